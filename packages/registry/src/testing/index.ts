export { buildPackage, ChildProcesses, exited, waitForOutput } from "./child-processes.js";
export { type EtcdServer, startEtcd } from "./etcd-server.js";
