export { type EtcdServer, startEtcd } from "./etcd-server.js";
