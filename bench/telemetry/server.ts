// One contender of the telemetry benchmark: a node:http hello-world, bare or fully instrumented.
// `node server.ts <bare|full|sampled>`; prints {"port": N} on stderr; stdout carries the access log.
import { helloServer, isHelloMode } from "./hello-server.ts";

const mode = process.argv[2] ?? "bare";
if (!isHelloMode(mode)) throw new Error("usage: node server.ts <bare|sampled|full>");
const server = helloServer(mode);

server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stderr.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
