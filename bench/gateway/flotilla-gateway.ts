// Flotilla's gateway (@flotilla/gateway) as the benchmark runs it, one process:
// `node flotilla-gateway.ts <plain|auth>` with the environment
//   UPSTREAM_URL  the upstream's origin (http://127.0.0.1:N);
//   PORT          listen on 127.0.0.1:PORT;
//   JWKS_FILE     (auth) a JSON Web Key Set file with the RS256 public key that signed TOKEN;
//   JWT_ISSUER, JWT_AUDIENCE  (auth) the `iss` and `aud` claims of TOKEN.
// The upstream is found through the registry, as in production: an embedded registry in this
// process (idle during the measurement) holds the upstream's registration and the gateway's
// discovery cache follows it; every request goes through the route, the balancer and outlier
// detection. `auth` adds JWT verification (RS256, keys from the JWKS file, the verified-token
// cache on) and a per-consumer GCRA rate limit high enough never to refuse.
// SIGTERM stops it. Readiness is a 200 answer through it.
import { readFileSync } from "node:fs";
import { type GatewayConfigInput, startGateway } from "@flotilla/gateway";
import { embeddedStore, registryClient, registryServer } from "@flotilla/registry";

const mode = process.argv[2];
if (mode !== "plain" && mode !== "auth") throw new Error("usage: node flotilla-gateway.ts <plain|auth>");
const upstreamUrl = process.env.UPSTREAM_URL;
if (upstreamUrl === undefined) throw new Error("UPSTREAM_URL is not set");
const upstream = new URL(upstreamUrl);

const store = await embeddedStore();
const registry = registryServer({ store });
const { port: registryPort } = await registry.listen(0, "127.0.0.1");
const registryUrl = `http://127.0.0.1:${registryPort}`;
const client = registryClient({ url: registryUrl });
await client.register({
  service: "bench-upstream",
  id: "bench-upstream-1",
  address: upstream.hostname,
  port: Number(upstream.port),
  ttlMs: 3_600_000,
});

const auth = mode === "auth";
const config: GatewayConfigInput = {
  listen: { host: "127.0.0.1", port: Number(process.env.PORT ?? 0) },
  accessLog: false,
  registry: { urls: [registryUrl] },
  upstreams: { api: { service: "bench-upstream" } },
  routes: [
    {
      id: "api",
      match: { path: { prefix: "/api" } },
      upstream: "api",
      ...(auth
        ? {
            auth: { methods: ["bench"] },
            rateLimit: {
              policies: [
                {
                  name: "per-consumer",
                  key: "consumer",
                  rule: { algorithm: "gcra", limit: 10_000_000, period: "1s" },
                },
              ],
            },
          }
        : {}),
    },
  ],
  ...(auth
    ? {
        auth: {
          jwt: {
            bench: {
              issuer: required("JWT_ISSUER"),
              audience: required("JWT_AUDIENCE"),
              keys: (JSON.parse(readFileSync(required("JWKS_FILE"), "utf8")) as { keys: never[] }).keys,
              algorithms: ["RS256"],
            },
          },
        },
      }
    : {}),
};
const gateway = await startGateway({ config });

process.once("SIGTERM", () => {
  void (async () => {
    await gateway.close(1_000);
    await client.close();
    await registry.close();
    await store.close();
    process.exit(0);
  })();
});

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}
