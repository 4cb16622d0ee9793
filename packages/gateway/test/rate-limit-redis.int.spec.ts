import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { Redis, type RedisOptions } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayErrorCode, isGatewayError } from "../src/chain/gateway-error.js";
import type { GatewayResponse } from "../src/chain/gateway-response.js";
import { type RateLimitLayer, rateLimitLayer } from "../src/rate-limit/rate-limit-layer.js";
import { rateLimitRule } from "../src/rate-limit/rate-limit-rule.js";
import { rateLimitScripts } from "../src/rate-limit/rate-limit-scripts.js";
import { redisRateLimitBackend } from "../src/rate-limit/redis-rate-limit-backend.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const algorithms = ["gcra", "token-bucket"] as const;

/** Clients to Redis at 127.0.0.1:6379, quit after each test. */
const connected: Redis[] = [];
/** Clients to a dead or silent port, disconnected after each test. */
const broken: Redis[] = [];
const servers: Server[] = [];
const sockets = new Set<Socket>();
let prefix = "";

function redis(): Redis {
  const client = new Redis({ host: "127.0.0.1", port: 6379, maxRetriesPerRequest: 2 });
  connected.push(client);
  return client;
}

function brokenRedis(port: number, options: RedisOptions = {}): Redis {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    ...options,
  });
  // ioredis reports connection errors as events; the backend sees them as failed commands.
  client.on("error", () => {});
  broken.push(client);
  return client;
}

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  server.close();
  await once(server, "close");
  return port;
}

async function keysUnderPrefix(client: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

beforeEach(() => {
  prefix = `flotilla-test:rl:${randomUUID()}:`;
});

afterEach(async () => {
  const cleaner = connected[0] ?? redis();
  const keys = await keysUnderPrefix(cleaner);
  if (keys.length > 0) await cleaner.del(...keys);
  await Promise.all(connected.splice(0).map((client) => client.quit()));
  for (const client of broken.splice(0)) client.disconnect();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(
    servers
      .splice(0)
      .map((server) => (server.listening ? new Promise((done) => server.close(done)) : undefined)),
  );
});

function layerOn(client: Redis, algorithm: (typeof algorithms)[number], limit: number): RateLimitLayer {
  return rateLimitLayer({
    backend: redisRateLimitBackend({ redis: client, prefix }),
    policies: [{ name: "shared", rule: { algorithm, limit, period: "1h" } }],
  });
}

describe.each(algorithms)("redisRateLimitBackend with %s", (algorithm) => {
  it("lets two gateway instances with their own connections share one limit exactly", async () => {
    const limit = 25;
    const perInstance = 60;
    const layers = [layerOn(redis(), algorithm, limit), layerOn(redis(), algorithm, limit)];
    const answers = await Promise.all(
      Array.from({ length: 2 * perInstance }, (_, i) =>
        layers[i % 2]!.handle(fakeExchange({ clientIp: "10.1.1.1" }), fixedNext()),
      ),
    );
    const count = (status: number) => answers.filter((answer) => answer.status === status).length;
    expect(count(200)).toBe(limit);
    expect(count(429)).toBe(2 * perInstance - limit);
    const stats = layers.map((layer) => layer.stats());
    expect(stats[0]!.allowed + stats[1]!.allowed).toBe(limit);
    expect(stats[0]!.backendErrors + stats[1]!.backendErrors).toBe(0);
  });

  it("decides like the in-process algorithm and reports it in the headers", async () => {
    const backend = redisRateLimitBackend({ redis: redis(), prefix });
    const rule = rateLimitRule({ algorithm, limit: 5, period: "1h" });
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const decision = await backend.take("k", rule);
      expect(decision).toMatchObject({ allowed: true, limit: 5, retryAfterMs: 0 });
      remaining.push(decision.remaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const refused = await backend.take("k", rule);
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    // One permit every 720 s; the milliseconds the test itself took come off.
    expect(refused.retryAfterMs).toBeGreaterThan(720_000 - 60_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(720_000);
    expect(refused.resetAfterMs).toBeGreaterThan(3_600_000 - 60_000);
    expect(refused.resetAfterMs).toBeLessThanOrEqual(3_600_000);
    expect((await backend.take("k", rule, 6)).retryAfterMs).toBe(Number.POSITIVE_INFINITY);

    const layer = layerOn(redis(), algorithm, 10);
    const exchange = fakeExchange();
    await layer.handle(exchange, fixedNext());
    expect(exchange.responseHeaders).toEqual({
      "ratelimit-policy": '"shared";q=10;w=3600',
      ratelimit: '"shared";r=9;t=360',
    });
  });

  it("sets a TTL on every key so that idle keys vanish", async () => {
    const client = redis();
    const backend = redisRateLimitBackend({ redis: client, prefix });
    const rule = rateLimitRule({ algorithm, limit: 4, period: "1m" });
    await backend.take("a", rule);
    await backend.take("b", rule, 3);
    const keys = (await keysUnderPrefix(client)).sort();
    expect(keys).toEqual([`${prefix}a`, `${prefix}b`]);
    const [ttlA, ttlB] = await Promise.all([client.pttl(`${prefix}a`), client.pttl(`${prefix}b`)]);
    // Full again 15 s after one permit, 45 s after three.
    expect(ttlA).toBeGreaterThan(0);
    expect(ttlA).toBeLessThanOrEqual(15_000);
    expect(ttlB).toBeGreaterThan(15_000);
    expect(ttlB).toBeLessThanOrEqual(45_000);
  });
});

describe("redisRateLimitBackend", () => {
  it("reloads its script after SCRIPT FLUSH (NOSCRIPT) and keeps the key's state", async () => {
    const client = redis();
    const backend = redisRateLimitBackend({ redis: client, prefix });
    const rule = rateLimitRule({ limit: 5, period: "1h" });
    const sha = rateLimitScripts.gcra.sha;
    expect((await backend.take("k", rule)).remaining).toBe(4);
    expect(await client.script("EXISTS", sha)).toEqual([1]);
    // Empties the script cache of the shared Redis: only this test does it.
    await client.script("FLUSH");
    expect(await client.script("EXISTS", sha)).toEqual([0]);
    expect(await backend.take("k", rule)).toMatchObject({ allowed: true, remaining: 3 });
    expect(await client.script("EXISTS", sha)).toEqual([1]);
  });

  it("fails open when Redis is unreachable, counting backend errors", async () => {
    const backend = redisRateLimitBackend({ redis: brokenRedis(await closedPort()), prefix });
    const layer = rateLimitLayer({
      backend,
      policies: [{ name: "perip", rule: { limit: 1, period: "1m" } }],
    });
    const next = fixedNext();
    const answers: GatewayResponse[] = [];
    for (let i = 0; i < 3; i++) answers.push(await layer.handle(fakeExchange(), next));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(next.calls).toBe(3);
    expect(layer.stats()).toEqual({ allowed: 3, limited: 0, backendErrors: 3 });
  });

  it("fails closed with 503 when Redis is unreachable and the layer denies", async () => {
    const backend = redisRateLimitBackend({ redis: brokenRedis(await closedPort()), prefix });
    const layer = rateLimitLayer({
      backend,
      onBackendError: "deny",
      policies: [{ name: "perip", rule: { limit: 100, period: "1m" } }],
    });
    const next = fixedNext();
    const answer = await layer.handle(fakeExchange(), next);
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("1");
    expect(JSON.parse(answer.body!.toString()).code).toBe(GatewayErrorCode.Unavailable);
    expect(next.calls).toBe(0);
    expect(layer.stats().backendErrors).toBe(1);
  });

  it("gives up on a Redis that does not answer within the timeout", async () => {
    const silent = createServer((socket) => {
      sockets.add(socket);
    });
    // No ready check and no CLIENT SETINFO: the client is ready as soon as the socket connects.
    const client = brokenRedis(await listen(silent), { enableReadyCheck: false, disableClientInfo: true });
    await once(client, "ready");
    const backend = redisRateLimitBackend({ redis: client, prefix, timeout: "30ms" });
    const failure = await backend.take("k", rateLimitRule({ limit: 1, period: "1s" })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isGatewayError(failure)).toBe(true);
    expect((failure as Error & { code: string }).code).toBe(GatewayErrorCode.Unavailable);
    expect((failure as Error).message).toContain("30 ms");
  });

  it("refuses to take once closed", async () => {
    const backend = redisRateLimitBackend({ redis: redis(), prefix });
    await backend.close();
    await expect(backend.take("k", rateLimitRule({ limit: 1, period: "1s" }))).rejects.toMatchObject({
      code: GatewayErrorCode.Unavailable,
    });
  });
});
