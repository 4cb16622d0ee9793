// STUB — to be replaced by the lead with Flotilla's real gateway (@flotilla/gateway). Until then a
// minimal node:http server + undici Pool proxy, so that the harness can be exercised end to end:
// its numbers say nothing about Flotilla.
//
// The contract the harness relies on (keep it when replacing this file):
// `node flotilla-gateway.ts <plain|auth>` with the environment
//   UPSTREAM_URL  the upstream's origin (http://127.0.0.1:N); every path is proxied to it;
//   PORT          listen on 127.0.0.1:PORT;
//   JWKS_FILE     (auth) a JSON Web Key Set file with the RS256 public key that signed TOKEN;
//   TOKEN         (auth) the bearer token the load generator sends (for reference);
//   JWT_ISSUER, JWT_AUDIENCE  (auth) the `iss` and `aud` claims of TOKEN.
// In `auth` mode a request without a valid `Authorization: Bearer` token must be refused (401):
// the harness checks that before measuring and flags the scenario when it is not.
// SIGTERM stops it. Readiness is a 200 answer through it; no announcement is needed.
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { pipeline } from "node:stream";
import { Pool } from "undici";

const mode = process.argv[2];
if (mode !== "plain" && mode !== "auth") throw new Error("usage: node flotilla-gateway.ts <plain|auth>");
const upstream = process.env.UPSTREAM_URL;
if (upstream === undefined) throw new Error("UPSTREAM_URL is not set");
// The stub ignores JWKS_FILE and TOKEN: `auth` proxies exactly like `plain`.

const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);

function forwardHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  return out;
}

const pool = new Pool(upstream, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
const server = createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  pool
    .request({
      method,
      path: req.url ?? "/",
      headers: forwardHeaders(req.headers),
      body: hasBody ? req : null,
    })
    .then(
      ({ statusCode, headers, body }) => {
        // The client may have gone meanwhile (wrk closes its connections when its time is up).
        if (res.destroyed) {
          body.on("error", () => {}).destroy();
          return;
        }
        res.writeHead(statusCode, forwardHeaders(headers as IncomingHttpHeaders) as OutgoingHttpHeaders);
        pipeline(body, res, () => {});
      },
      () => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end("bad gateway");
      },
    );
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1");

process.once("SIGTERM", async () => {
  server.close();
  server.closeAllConnections();
  await pool.close();
  process.exit(0);
});
