// Every step of the request chain, exercised THROUGH a running gateway (startGateway in-process
// on port 0) against real upstream processes, a counting JWKS server and the Redis at
// 127.0.0.1:6379: JWT and API key authentication, RBAC, distributed and local rate limits,
// the response cache (memory, shared Redis, stale-if-error), composite endpoints, BFF route
// sets, CORS, transforms, and hot reload under a kept-alive connection.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Redis } from "ioredis";
import { exportSPKI, type JWTPayload, SignJWT } from "jose";
import { Agent, type Dispatcher, Pool, request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../src/auth/hash-api-key.js";
import type { GatewayConfigInput } from "../src/config/gateway-config.js";
import { type Gateway, startGateway } from "../src/server/gateway.js";
import { cacheableControl, startCacheableUpstream } from "./fixtures/cacheable-upstream.js";
import {
  type JwksServer,
  signToken,
  startJwksServer,
  type TestKey,
  testKey,
} from "./fixtures/jwks-server.js";
import { type UpstreamProcess, Upstreams } from "./fixtures/upstreams.js";

const redisUrl = "redis://127.0.0.1:6379";
const upstreams = new Upstreams();
const client = new Agent({ keepAliveTimeout: 1_000 });
let a: UpstreamProcess;
let b: UpstreamProcess;
let keyA: TestKey;
let keyB: TestKey;

/** Closers of what the running test started, run last-first after it. */
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [a, b, keyA, keyB] = await Promise.all([
    upstreams.start("a"),
    upstreams.start("b"),
    testKey("RS256", "key-a"),
    testKey("RS256", "key-b"),
  ]);
});

afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
});

afterAll(async () => {
  await client.close();
  await upstreams.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

type Config = Omit<GatewayConfigInput, "listen" | "accessLog">;

async function start(config: Config): Promise<Gateway> {
  const gateway = await startGateway({ config: { listen: { port: 0 }, accessLog: false, ...config } });
  cleanups.push(() => gateway.close(1_000));
  return gateway;
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json(): Record<string, unknown>;
}

async function send(
  gateway: Gateway,
  path: string,
  options: { method?: string; headers?: Record<string, string>; dispatcher?: Dispatcher } = {},
): Promise<Reply> {
  const res = await request(`${gateway.url}${path}`, {
    method: (options.method ?? "GET") as "GET",
    headers: options.headers ?? {},
    dispatcher: options.dispatcher ?? client,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

/** The request headers the echoing upstream saw. */
function seenByUpstream(reply: Reply): Record<string, string | undefined> {
  expect(reply.status).toBe(200);
  return reply.json().headers as Record<string, string | undefined>;
}

/** The RFC 9457 problem of an error answer. */
function problem(reply: Reply): Record<string, unknown> {
  expect(reply.headers["content-type"]).toBe("application/problem+json");
  return reply.json();
}

function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}

/** Calls `attempt` every 25 ms until it returns a value, for at most `timeoutMs`. */
async function poll<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A Redis key prefix of this test; its keys are deleted after the test's gateways closed. */
function redisPrefix(): string {
  const prefix = `flotilla-test:chain:${randomUUID()}:`;
  cleanups.push(async () => {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      await redis.quit();
    }
  });
  return prefix;
}

/**
 * A route whose only job is to tell when the gateway's Redis connection is up: its rate limit
 * lives in Redis and answers 503 while Redis cannot be reached (the gateway's client has no
 * offline queue, so commands sent while it still connects fail at once).
 */
const redisProbeRoute = {
  id: "redis-probe",
  match: { path: { exact: "/__redis-probe" } },
  upstream: "a",
  rateLimit: {
    backend: "redis" as const,
    onBackendError: "deny" as const,
    policies: [{ name: "probe", rule: { limit: 100_000, period: "1s" }, key: "route" as const }],
  },
};

async function redisReady(gateway: Gateway): Promise<void> {
  await poll("the gateway's Redis connection", async () =>
    (await send(gateway, "/__redis-probe")).status === 200 ? true : undefined,
  );
}

// ---------------------------------------------------------------------------------------------
// 1. JWT

const issuer = "https://idp.test/";
const audience = "orders-api";

function claims(extra: JWTPayload = {}): JWTPayload {
  return {
    iss: issuer,
    aud: audience,
    sub: "user-1",
    roles: ["reader"],
    scope: "orders:read orders:write",
    ...extra,
  };
}

describe("1. JWT authentication through the gateway", () => {
  async function jwks(keys: TestKey[]): Promise<JwksServer> {
    const server = await startJwksServer(keys.map((k) => k.jwk));
    cleanups.push(() => server.close());
    return server;
  }

  function jwtGateway(server: JwksServer, provider: Record<string, unknown> = {}): Promise<Gateway> {
    return start({
      upstreams: { a: { urls: [a.url] } },
      auth: { jwt: { idp: { issuer, audience, jwksUrl: server.url, ...provider } } },
      routes: [
        { id: "orders", match: { path: { prefix: "/orders" } }, upstream: "a", auth: { methods: ["idp"] } },
      ],
    });
  }

  it("passes a valid token and gives the upstream the verified identity, not the client's forgery", async () => {
    const server = await jwks([keyA]);
    const gateway = await jwtGateway(server);
    const token = await signToken(keyA, claims(), Date.now());
    const reply = await send(gateway, "/orders/1", {
      headers: {
        authorization: `Bearer ${token}`,
        "x-flotilla-subject": "admin",
        "x-flotilla-roles": "admin",
        "x-flotilla-scopes": "everything",
      },
    });
    const seen = seenByUpstream(reply);
    expect(seen["x-flotilla-subject"]).toBe("user-1");
    expect(seen["x-flotilla-roles"]).toBe("reader");
    expect(seen["x-flotilla-scopes"]).toBe("orders:read orders:write");
    expect(seen["x-flotilla-auth"]).toBe("jwt");
    expect(server.hits).toBe(1);
  });

  it("refuses expired, wrong-audience, alg none, HS256-with-the-public-key and missing tokens with 401", async () => {
    const server = await jwks([keyA]);
    const gateway = await jwtGateway(server);
    const now = Date.now();
    const nowSeconds = Math.floor(now / 1000);
    const expired = await signToken(keyA, claims({ iat: nowSeconds - 7200, exp: nowSeconds - 3600 }), now);
    const wrongAudience = await signToken(keyA, claims({ aud: "billing-api" }), now);
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const unsigned = `${b64({ alg: "none", typ: "JWT", kid: keyA.kid })}.${b64({ ...claims(), iat: nowSeconds, exp: nowSeconds + 3600 })}.`;
    // The algorithm-confusion forgery: HMAC with the RSA public key (which anyone has) as secret.
    const publicPem = await exportSPKI(keyA.publicKey);
    const confused = await new SignJWT({ ...claims(), iat: nowSeconds, exp: nowSeconds + 3600 })
      .setProtectedHeader({ alg: "HS256", kid: keyA.kid, typ: "JWT" })
      .sign(new TextEncoder().encode(publicPem));

    const before = await a.requests();
    const cases: [string, Record<string, string>, RegExp][] = [
      ["expired", bearer(expired).headers, /error="invalid_token", error_description="expired"/],
      [
        "wrong audience",
        bearer(wrongAudience).headers,
        /error="invalid_token", error_description="wrong audience"/,
      ],
      [
        "alg none",
        bearer(unsigned).headers,
        /error="invalid_token", error_description="algorithm not allowed"/,
      ],
      [
        "HS256 with the public key",
        bearer(confused).headers,
        /error="invalid_token", error_description="algorithm not allowed"/,
      ],
      ["no token", {}, /^Bearer realm="flotilla"$/],
    ];
    for (const [label, headers, challenge] of cases) {
      const reply = await send(gateway, "/orders/1", { headers });
      expect(reply.status, label).toBe(401);
      expect(problem(reply).code, label).toBe("FLT_GATEWAY_UNAUTHORIZED");
      expect(reply.headers["www-authenticate"], label).toMatch(challenge);
    }
    expect(await a.requests()).toBe(before);
  });

  it("refetches the key set ONCE for 20 concurrent tokens of a rotated-in key, and accepts them", async () => {
    const server = await jwks([keyA]);
    // No cooldown: only jose's sharing of one in-flight fetch keeps the 20 requests to one.
    const gateway = await jwtGateway(server, { jwksCooldown: 0 });
    expect((await send(gateway, "/orders", bearer(await signToken(keyA, claims(), Date.now())))).status).toBe(
      200,
    );
    expect(server.hits).toBe(1);

    server.keys = [keyA.jwk, keyB.jwk]; // the IdP rotates in key B
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signToken(keyB, claims({ sub: `user-${i}` }), Date.now())),
    );
    const replies = await Promise.all(tokens.map((token) => send(gateway, "/orders", bearer(token))));
    expect(replies.map((r) => r.status)).toEqual(tokens.map(() => 200));
    expect(replies.map((r) => seenByUpstream(r)["x-flotilla-subject"])).toEqual(
      tokens.map((_, i) => `user-${i}`),
    );
    expect(server.hits).toBe(2);
  });

  it("does not refetch for unknown kids within the cooldown: 20 concurrent requests cost one fetch", async () => {
    const server = await jwks([keyA]);
    const gateway = await jwtGateway(server); // default cooldown 30 s
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signToken(keyB, claims({ sub: `user-${i}` }), Date.now())),
    );
    const replies = await Promise.all(tokens.map((token) => send(gateway, "/orders", bearer(token))));
    for (const reply of replies) {
      expect(reply.status).toBe(401);
      expect(reply.headers["www-authenticate"]).toContain('error_description="unknown key"');
    }
    expect(server.hits).toBe(1); // the first load, shared by all 20

    server.keys = [keyA.jwk, keyB.jwk];
    expect((await send(gateway, "/orders", bearer(tokens[0]!))).status).toBe(401); // still cooling down
    expect((await send(gateway, "/orders", bearer(await signToken(keyA, claims(), Date.now())))).status).toBe(
      200,
    );
    expect(server.hits).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. API keys

describe("2. API key authentication through the gateway", () => {
  it("accepts a configured key (stored as a sha256 hash) and refuses a wrong or missing one", async () => {
    const key = `k_live_${randomUUID()}`;
    const gateway = await start({
      upstreams: { a: { urls: [a.url] } },
      auth: {
        apiKeys: {
          keys: [
            { consumer: "partner-1", hash: hashApiKey(key), roles: ["partner"], scopes: ["orders:read"] },
          ],
        },
      },
      routes: [
        {
          id: "partner",
          match: { path: { prefix: "/partner" } },
          upstream: "a",
          auth: { methods: ["api-key"], hideCredentials: true },
        },
      ],
    });
    const before = await a.requests();
    const seen = seenByUpstream(await send(gateway, "/partner/orders", { headers: { "x-api-key": key } }));
    expect(seen["x-flotilla-subject"]).toBe("partner-1");
    expect(seen["x-flotilla-consumer"]).toBe("partner-1");
    expect(seen["x-flotilla-roles"]).toBe("partner");
    expect(seen["x-flotilla-scopes"]).toBe("orders:read");
    expect(seen["x-flotilla-auth"]).toBe("api-key");
    expect(seen["x-api-key"]).toBeUndefined(); // hideCredentials

    const wrong = await send(gateway, "/partner/orders", { headers: { "x-api-key": `${key}x` } });
    expect(wrong.status).toBe(401);
    expect(problem(wrong).detail).toBe("invalid api key");
    expect(wrong.headers["www-authenticate"]).toBe('ApiKey realm="flotilla"');
    expect((await send(gateway, "/partner/orders")).status).toBe(401);
    expect(await a.requests()).toBe(before + 1);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. RBAC

describe("3. Authorization (RBAC) through the gateway", () => {
  it("answers 403 without the role or scope, 200 with it, and 401 without credentials", async () => {
    const gateway = await start({
      upstreams: { a: { urls: [a.url] } },
      // Static keys this time: no JWKS endpoint involved.
      auth: { jwt: { idp: { issuer, audience, keys: [{ ...keyA.jwk, kty: "RSA" }] } } },
      routes: [
        {
          id: "admin",
          match: { path: { prefix: "/admin" } },
          upstream: "a",
          auth: { methods: ["idp"] },
          authorize: { roles: ["admin"] },
        },
        {
          id: "writes",
          match: { path: { prefix: "/writes" } },
          upstream: "a",
          auth: { methods: ["idp"] },
          authorize: { scopes: ["orders:write"] },
        },
      ],
    });
    const now = Date.now();
    const reader = await signToken(keyA, claims({ roles: ["reader"], scope: "orders:read" }), now);
    const admin = await signToken(keyA, claims({ sub: "root", roles: ["reader", "admin"] }), now);
    const before = await a.requests();

    const forbidden = await send(gateway, "/admin/users", bearer(reader));
    expect(forbidden.status).toBe(403);
    expect(problem(forbidden)).toMatchObject({
      status: 403,
      code: "FLT_GATEWAY_FORBIDDEN",
      detail: "requires role admin",
    });
    expect(seenByUpstream(await send(gateway, "/admin/users", bearer(admin)))["x-flotilla-subject"]).toBe(
      "root",
    );

    const noScope = await send(gateway, "/writes/1", bearer(reader));
    expect(noScope.status).toBe(403);
    expect(problem(noScope).detail).toBe("requires scope orders:write");
    expect(noScope.headers["www-authenticate"]).toMatch(/error="insufficient_scope".*scope="orders:write"/);
    expect((await send(gateway, "/writes/1", bearer(admin))).status).toBe(200); // admin holds orders:write

    expect((await send(gateway, "/admin/users")).status).toBe(401);
    expect(await a.requests()).toBe(before + 2);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Rate limits

describe("4. Rate limiting through the gateway", () => {
  const tenantPolicy = { name: "tenant", rule: { limit: 10, period: "1h" }, key: { header: "x-tenant" } };

  function limitedConfig(backend: "memory" | "redis", prefix?: string): Config {
    return {
      ...(prefix === undefined ? {} : { redis: { url: redisUrl, prefix, timeout: "2s" } }),
      upstreams: { a: { urls: [a.url] } },
      routes: [
        ...(prefix === undefined ? [] : [redisProbeRoute]),
        {
          id: "limited",
          match: { path: { prefix: "/limited" } },
          upstream: "a",
          // deny: a Redis failure shows up as 503, never as an extra 200.
          rateLimit: { backend, onBackendError: "deny", policies: [tenantPolicy] },
        },
      ],
    };
  }

  function remaining(reply: Reply): number {
    const match = /^"tenant";r=(\d+);t=\d+$/.exec(String(reply.headers.ratelimit));
    if (match === null) throw new Error(`unexpected RateLimit: ${reply.headers.ratelimit}`);
    return Number(match[1]);
  }

  function expectRefusal(reply: Reply): void {
    expect(reply.status).toBe(429);
    expect(problem(reply).code).toBe("FLT_GATEWAY_RATE_LIMITED");
    const retryAfter = Number(reply.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(reply.headers["ratelimit-policy"]).toBe('"tenant";q=10;w=3600');
    expect(reply.headers.ratelimit).toBe(`"tenant";r=0;t=${retryAfter}`);
  }

  it("shares one limit between two gateway instances through Redis", async () => {
    const prefix = redisPrefix();
    const gateways = [
      await start(limitedConfig("redis", prefix)),
      await start(limitedConfig("redis", prefix)),
    ];
    for (const gateway of gateways) await redisReady(gateway);

    const replies: Reply[] = [];
    for (let i = 0; i < 30; i++) {
      replies.push(await send(gateways[i % 2]!, "/limited/x", { headers: { "x-tenant": "acme" } }));
    }
    const allowed = replies.filter((r) => r.status === 200);
    expect(allowed).toHaveLength(10);
    // Alternating: the first ten went five to each gateway, and each saw the other's spending.
    expect(replies.slice(0, 10).every((r) => r.status === 200)).toBe(true);
    expect(allowed.map(remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    for (const reply of allowed) expect(reply.headers["ratelimit-policy"]).toBe('"tenant";q=10;w=3600');
    for (const reply of replies.slice(10)) expectRefusal(reply);

    // Another tenant has its own bucket.
    expect((await send(gateways[1]!, "/limited/x", { headers: { "x-tenant": "globex" } })).status).toBe(200);
  });

  it("keeps a memory limit per gateway instance", async () => {
    const first = await start(limitedConfig("memory"));
    const second = await start(limitedConfig("memory"));
    const replies: Reply[] = [];
    for (let i = 0; i < 15; i++) {
      replies.push(await send(first, "/limited/x", { headers: { "x-tenant": "acme" } }));
    }
    expect(replies.map((r) => r.status)).toEqual([...Array(10).fill(200), ...Array(5).fill(429)]);
    expect(replies.slice(0, 10).map(remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    for (const reply of replies.slice(10)) expectRefusal(reply);
    // Not shared: the other instance starts with a full bucket.
    const elsewhere = await send(second, "/limited/x", { headers: { "x-tenant": "acme" } });
    expect(elsewhere.status).toBe(200);
    expect(remaining(elsewhere)).toBe(9);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Response cache

describe("5. Response cache through the gateway", () => {
  it("misses, then hits from memory without calling the upstream (route defaultTtl)", async () => {
    const gateway = await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "cached",
          match: { path: { prefix: "/echo" } },
          upstream: "a",
          cache: { store: "memory", defaultTtl: "60s" },
        },
      ],
    });
    const path = `/echo/cache-${randomUUID()}`;
    const before = await a.requests();
    const miss = await send(gateway, path);
    expect(miss.status).toBe(200);
    expect(miss.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; stored");
    expect(await a.requests()).toBe(before + 1);

    const hit = await send(gateway, path);
    expect(hit.status).toBe(200);
    expect(hit.headers["cache-status"]).toMatch(/^flotilla; hit; ttl=\d+$/);
    expect(hit.text).toBe(miss.text);
    expect(await a.requests()).toBe(before + 1);

    // Another query is another entry.
    expect((await send(gateway, `${path}?page=2`)).headers["cache-status"]).toBe(
      "flotilla; fwd=uri-miss; stored",
    );
    expect(await a.requests()).toBe(before + 2);
  });

  it("shares entries between two gateways through Redis", async () => {
    const prefix = redisPrefix();
    const config: Config = {
      redis: { url: redisUrl, prefix, timeout: "2s" },
      upstreams: { a: { urls: [a.url] } },
      routes: [
        redisProbeRoute,
        {
          id: "shared",
          match: { path: { prefix: "/echo" } },
          upstream: "a",
          cache: { store: "redis", defaultTtl: "60s" },
        },
      ],
    };
    const first = await start(config);
    const second = await start(config);
    await redisReady(first);
    await redisReady(second);

    const path = `/echo/shared-${randomUUID()}`;
    const before = await a.requests();
    const miss = await send(first, path);
    expect(miss.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; stored");
    const hit = await send(second, path);
    expect(hit.status).toBe(200);
    expect(hit.headers["cache-status"]).toMatch(/^flotilla; hit; ttl=\d+$/);
    expect(hit.text).toBe(miss.text);
    expect(await a.requests()).toBe(before + 1);
  });

  it("honours the upstream's Cache-Control: no-store, max-age and stale-if-error, and the route's staleIfError", async () => {
    const origin = await startCacheableUpstream();
    cleanups.push(() => origin.close());
    const gateway = await start({
      upstreams: { origin: { urls: [origin.url] } },
      routes: [
        // No defaultTtl: only what the upstream says is fresh is stored.
        { id: "own", match: { path: { prefix: "/own" } }, upstream: "origin", cache: { store: "memory" } },
        {
          id: "policy",
          match: { path: { prefix: "/policy" } },
          upstream: "origin",
          cache: { store: "memory", staleIfError: "60s" },
        },
      ],
    });

    // no-store: both requests reach the upstream.
    for (let i = 0; i < 2; i++) {
      const reply = await send(gateway, "/own/no-store");
      expect(reply.status).toBe(200);
      expect(reply.headers["cache-status"]).toBe("flotilla; fwd=uri-miss");
    }
    expect(origin.hits("/own/no-store")).toBe(2);

    // max-age=1: stored. "/own/item" also says stale-if-error=60, "…/plain" says max-age=1 only.
    const stored = new Map<string, Reply>();
    for (const path of ["/own/item", "/own/plain", "/policy/plain"]) {
      const reply = await send(gateway, path);
      expect(reply.headers["cache-status"], path).toBe("flotilla; fwd=uri-miss; stored");
      stored.set(path, reply);
    }
    expect(stored.get("/own/item")!.headers["cache-control"]).toBe(cacheableControl);

    origin.failing = true;
    // Hits until the 1 s freshness runs out, then the failing upstream is asked and the stale
    // copy answers; "/policy/plain" was stored last, so the others are stale by then too.
    const stale = await poll("the entry to go stale", async () => {
      const reply = await send(gateway, "/policy/plain");
      expect(reply.status).toBe(200);
      return String(reply.headers["cache-status"]).includes("fwd=stale") ? reply : undefined;
    });
    expect(stale.headers["cache-status"]).toBe("flotilla; hit; fwd=stale; fwd-status=503");
    expect(stale.text).toBe(stored.get("/policy/plain")!.text);
    expect(Number(stale.headers.age)).toBeGreaterThanOrEqual(1);

    const ownWindow = await send(gateway, "/own/item"); // the upstream's stale-if-error=60
    expect(ownWindow.status).toBe(200);
    expect(ownWindow.headers["cache-status"]).toBe("flotilla; hit; fwd=stale; fwd-status=503");
    expect(ownWindow.text).toBe(stored.get("/own/item")!.text);

    // Neither the response nor the route allows stale: the entry left the store when it went
    // stale, and the failure passes through.
    const noWindow = await send(gateway, "/own/plain");
    expect(noWindow.status).toBe(503);
    expect(noWindow.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; fwd-status=503");

    for (const path of ["/own/item", "/own/plain", "/policy/plain"]) expect(origin.hits(path), path).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Composite endpoints

describe("6. Composite endpoints through the gateway", () => {
  const profile = { name: "profile", upstream: "a", path: "/echo/users/{id}" };
  const orders = { name: "orders", upstream: "a", path: "/status/500" };
  const recommendations = { name: "recommendations", upstream: "a", path: "/slow/2000", timeout: "200ms" };

  async function compositeGateway(): Promise<Gateway> {
    return start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "dashboard",
          match: { path: { template: "/dashboard/:id" } },
          composite: { deadline: "1s", parts: [profile, orders, recommendations] },
        },
        {
          id: "strict",
          match: { path: { template: "/strict/:id" } },
          composite: { deadline: "1s", parts: [profile, { ...orders, required: true }] },
        },
        {
          id: "strict-slow",
          match: { path: { template: "/strict-slow/:id" } },
          composite: { deadline: "1s", parts: [profile, { ...recommendations, required: true }] },
        },
      ],
    });
  }

  it("merges the parts and lists the failed and timed-out ones in _meta.partial", async () => {
    const gateway = await compositeGateway();
    const reply = await send(gateway, "/dashboard/42");
    expect(reply.status).toBe(200);
    expect(reply.headers["cache-control"]).toBe("no-store");
    const body = reply.json();
    expect(body.profile).toMatchObject({ name: "a", method: "GET", url: "/echo/users/42" });
    expect(body.orders).toBeNull();
    expect(body.recommendations).toBeNull();
    expect(body._meta).toEqual({
      partial: ["orders", "recommendations"],
      errors: { orders: "status 500", recommendations: "timeout" },
    });
  });

  it("fails the whole endpoint when a required part fails (502) or times out (504)", async () => {
    const gateway = await compositeGateway();
    const failed = await send(gateway, "/strict/42");
    expect(failed.status).toBe(502);
    expect(problem(failed)).toMatchObject({ code: "FLT_GATEWAY_BAD_GATEWAY", part: "orders" });
    const timedOut = await send(gateway, "/strict-slow/42");
    expect(timedOut.status).toBe(504);
    expect(problem(timedOut)).toMatchObject({ code: "FLT_GATEWAY_TIMEOUT", part: "recommendations" });
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Backends for frontends

describe("7. BFF route sets through the gateway", () => {
  it("serves a lighter payload under the mobile prefix and the full one under the web prefix", async () => {
    const echo = { id: "echo", match: { path: { prefix: "/echo" } }, upstream: "a" };
    const gateway = await start({
      upstreams: { a: { urls: [a.url] } },
      routeSets: {
        mobile: {
          prefix: "/m",
          shape: { fields: ["name", "url"] },
          routes: [
            echo,
            // A route's own shaping wins over its set's.
            {
              id: "details",
              match: { path: { prefix: "/details" } },
              upstream: "a",
              shape: { omit: ["headers"] },
            },
          ],
        },
        web: { prefix: "/w", routes: [echo] },
      },
    });
    const mobile = await send(gateway, "/m/echo/profile");
    expect(mobile.status).toBe(200);
    expect(mobile.json()).toEqual({ name: "a", url: "/m/echo/profile" });

    const web = await send(gateway, "/w/echo/profile");
    expect(web.status).toBe(200);
    expect(web.json()).toMatchObject({ name: "a", method: "GET", url: "/w/echo/profile", bodyLength: 0 });
    expect(web.json().headers).toBeTypeOf("object");
    expect(mobile.text.length).toBeLessThan(web.text.length);

    const details = await send(gateway, "/m/details/1");
    expect(Object.keys(details.json()).sort()).toEqual(["bodyLength", "method", "name", "url"]);

    expect((await send(gateway, "/echo/profile")).status).toBe(404); // only under a set's prefix
  });
});

// ---------------------------------------------------------------------------------------------
// 8. CORS

describe("8. CORS through the gateway", () => {
  it("answers an allowed preflight on a GET-only route with 204, refuses others with 403", async () => {
    const gateway = await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "catalog",
          match: { path: { prefix: "/catalog" }, methods: ["GET"] },
          upstream: "a",
          cors: { origins: ["https://app.example.com"], methods: ["GET"], maxAge: "10m" },
        },
      ],
    });
    const allowedOrigin = "https://app.example.com";
    const before = await a.requests();
    const preflight = await send(gateway, "/catalog/items", {
      method: "OPTIONS",
      headers: {
        origin: allowedOrigin,
        "access-control-request-method": "GET",
        "access-control-request-headers": "Authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(allowedOrigin);
    expect(preflight.headers["access-control-allow-methods"]).toBe("GET");
    expect(preflight.headers["access-control-allow-headers"]).toContain("authorization");
    expect(preflight.headers["access-control-max-age"]).toBe("600");
    expect(preflight.headers.vary).toContain("Origin");

    const evil = await send(gateway, "/catalog/items", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(evil.status).toBe(403);
    expect(problem(evil).code).toBe("FLT_GATEWAY_CORS_REJECTED");
    expect(evil.headers["access-control-allow-origin"]).toBeUndefined();

    const wrongMethod = await send(gateway, "/catalog/items", {
      method: "OPTIONS",
      headers: { origin: allowedOrigin, "access-control-request-method": "DELETE" },
    });
    expect(wrongMethod.status).toBe(403);
    expect(await a.requests()).toBe(before); // preflights never reach the upstream

    const actual = await send(gateway, "/catalog/items", { headers: { origin: allowedOrigin } });
    expect(actual.status).toBe(200);
    expect(actual.headers["access-control-allow-origin"]).toBe(allowedOrigin);
    expect(actual.headers.vary).toContain("Origin");
    // OPTIONS was added for CORS; other methods stay refused by the route.
    const post = await send(gateway, "/catalog/items", {
      method: "POST",
      headers: { origin: allowedOrigin },
    });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, OPTIONS");
  });
});

// ---------------------------------------------------------------------------------------------
// 9. Transforms

describe("9. Transforms through the gateway", () => {
  it("sets and removes request headers and renames response JSON fields", async () => {
    const gateway = await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "transformed",
          match: { path: { prefix: "/echo" } },
          upstream: "a",
          transform: {
            requestHeaders: { set: { "x-api-version": "2" }, remove: ["x-debug"] },
            responseHeaders: { set: { "x-served-by": "flotilla" } },
            responseBody: { rename: { name: "upstreamName" } },
          },
        },
      ],
    });
    const reply = await send(gateway, "/echo/t", { headers: { "x-api-version": "1", "x-debug": "on" } });
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body.name).toBeUndefined();
    expect(body.upstreamName).toBe("a");
    const seen = body.headers as Record<string, string | undefined>;
    expect(seen["x-api-version"]).toBe("2");
    expect(seen["x-debug"]).toBeUndefined();
    expect(reply.headers["x-served-by"]).toBe("flotilla");
    expect(reply.headers["content-type"]).toMatch(/^application\/json/);
  });
});

// ---------------------------------------------------------------------------------------------
// 10. Hot reload

describe("10. Hot reload in-process", () => {
  function config(upstream: "a" | "b"): Config {
    return {
      upstreams: { a: { urls: [a.url] }, b: { urls: [b.url] } },
      routes: [
        { id: "echo", match: { path: { prefix: "/echo" } }, upstream },
        { id: "slow", match: { path: { prefix: "/slow" } }, upstream },
      ],
    };
  }

  it("switches a route's upstream under a kept-alive connection, and refuses a bad config keeping the old one", async () => {
    const gateway = await start(config("a"));
    const pool = new Pool(gateway.url, { connections: 1, pipelining: 1 });
    cleanups.push(() => pool.close());
    let connects = 0;
    let disconnects = 0;
    pool.on("connect", () => connects++);
    pool.on("disconnect", () => disconnects++);
    const viaPool = (path: string) => send(gateway, path, { dispatcher: pool });

    expect((await viaPool("/echo")).json().name).toBe("a");

    // A request in flight on the old configuration (on another connection) finishes there.
    const before = await a.requests();
    const inFlight = send(gateway, "/slow/300");
    await poll("the slow request to reach the upstream", async () =>
      (await a.requests()) > before ? true : undefined,
    );

    expect(await gateway.reload({ listen: { port: 0 }, accessLog: false, ...config("b") })).toEqual({
      ok: true,
      version: 2,
      routes: 2,
    });
    expect((await viaPool("/echo")).json().name).toBe("b");
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(finished.json().name).toBe("a");

    const unknownUpstream = await gateway.reload({
      listen: { port: 0 },
      ...config("b"),
      routes: [{ id: "echo", match: { path: { prefix: "/echo" } }, upstream: "missing" }],
    });
    expect(unknownUpstream.ok).toBe(false);
    expect(unknownUpstream.ok === false && unknownUpstream.issues).toContainEqual({
      path: "routes.0.upstream",
      message: expect.stringContaining('no upstream named "missing"'),
    });
    const invalid = await gateway.reload({
      listen: { port: 0 },
      ...config("a"),
      routes: [{ id: "echo", match: { path: { prefix: "echo" } }, upstream: "a", timeout: "soon" }],
    });
    expect(invalid.ok).toBe(false);
    const paths = invalid.ok === false ? invalid.issues.map((issue) => issue.path) : [];
    expect(paths).toContain("routes.0.timeout");
    expect(paths.some((path) => path.startsWith("routes.0.match.path"))).toBe(true);
    // What only a restart can change is refused rather than silently ignored.
    const moved = await gateway.reload({ listen: { port: 1 }, accessLog: false, ...config("b") });
    expect(moved.ok === false && moved.issues.map((issue) => issue.path)).toEqual(["listen"]);

    // The previous configuration keeps serving, on the same connection all along.
    expect(gateway.snapshot.version).toBe(2);
    expect((await viaPool("/echo")).json().name).toBe("b");
    expect((await viaPool("/slow/1")).json().name).toBe("b");
    expect(connects).toBe(1);
    expect(disconnects).toBe(0);
  });
});
