// Peer: http-proxy 1.18 (node-http-proxy) in a node:http server, with a keep-alive agent to the
// upstream (without one it sends `Connection: close` upstream and opens a socket per request).
// `UPSTREAM_URL=http://127.0.0.1:N PORT=M node http-proxy.ts`; listens on 127.0.0.1:PORT.
import { Agent, createServer } from "node:http";
import httpProxy from "http-proxy";

const target = process.env.UPSTREAM_URL;
if (target === undefined) throw new Error("UPSTREAM_URL is not set");

const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on("error", (_error, _req, res) => {
  // `res` is a socket for WebSocket upgrades, which this benchmark does not make.
  if ("writeHead" in res && !res.headersSent) {
    res.writeHead(502, { "content-type": "text/plain" });
    res.end("bad gateway");
  }
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 120_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1");

process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
});
