// The upstream of the gateway benchmark: a keep-alive node:http server answering every request,
// on any path, with the same small JSON body (~100 bytes). `node upstream.ts`; listens on
// 127.0.0.1 (PORT, or a free port) and announces {"port": N} on stderr.
import { createServer } from "node:http";

const body = Buffer.from(
  JSON.stringify({
    id: "item-42",
    service: "upstream",
    ok: true,
    items: [1, 2, 3],
    note: "flotilla gateway bench",
  }),
);
const headers = { "content-type": "application/json", "content-length": String(body.length) };

const server = createServer({ keepAliveTimeout: 120_000, headersTimeout: 130_000 }, (req, res) => {
  // Drain a request body, if any, so that the connection stays reusable.
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
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
