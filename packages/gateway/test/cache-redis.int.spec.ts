import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { FakeClock } from "@flotilla/resilience/testing";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { redisCacheStore } from "../src/cache/redis-cache-store.js";
import { type ResponseCacheLayer, responseCacheLayer } from "../src/cache/response-cache-layer.js";
import { responseCacheOptionsSchema } from "../src/cache/response-cache-options.js";
import type { GatewayLogger } from "../src/chain/gateway-logger.js";
import { bufferedResponse, type GatewayResponse } from "../src/chain/gateway-response.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const options = responseCacheOptionsSchema.parse({ store: "redis" });

function get(path = "/items", headers: Record<string, string> = {}) {
  return fakeExchange({ host: "api.example.com", path, headers });
}

async function ready(redis: Redis): Promise<Redis> {
  await redis.ping();
  return redis;
}

function recordingLogger(): GatewayLogger & { warnings: object[] } {
  const warnings: object[] = [];
  return { warnings, info() {}, error() {}, debug() {}, warn: (obj) => void warnings.push(obj) };
}

describe("response cache on Redis", () => {
  let prefix: string;
  let clients: Redis[];
  let clock: FakeClock;

  beforeEach(() => {
    prefix = `flotilla-test:cache:${randomUUID()}:`;
    clients = [];
    clock = new FakeClock(Date.now());
  });

  afterEach(async () => {
    const cleaner = new Redis({ host: "127.0.0.1", port: 6379 });
    const keys = await cleaner.keys(`${prefix}*`);
    if (keys.length > 0) await cleaner.del(...keys);
    await cleaner.quit();
    await Promise.all(
      clients.map((client) => (client.status === "ready" ? client.quit() : client.disconnect())),
    );
  });

  async function layerOnNewClient(): Promise<ResponseCacheLayer> {
    const redis = await ready(new Redis({ host: "127.0.0.1", port: 6379 }));
    clients.push(redis);
    return responseCacheLayer(options, { store: redisCacheStore({ redis, prefix, timeout: "1s" }), clock });
  }

  it("shares entries between two layers on two clients", async () => {
    const a = await layerOnNewClient();
    const b = await layerOnNewClient();
    const upstream = fixedNext(200, "shared body", {
      "cache-control": "max-age=60",
      "content-type": "text/plain",
    });
    const miss = await a.handle(get(), upstream);
    expect(miss.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; stored");

    await clock.advance(3_000);
    const hit = await b.handle(get(), upstream);
    expect(upstream.calls).toBe(1);
    expect(hit.body?.toString()).toBe("shared body");
    expect(hit.headers["content-type"]).toBe("text/plain");
    expect(hit.headers.age).toBe("3");
    expect(hit.headers["cache-status"]).toBe("flotilla; hit; ttl=57");
  });

  it("shares Vary variants and expires keys with the stale-if-error window", async () => {
    const a = await layerOnNewClient();
    const b = await layerOnNewClient();
    const upstream = (body: string) =>
      fixedNext(200, body, { "cache-control": "max-age=10, stale-if-error=50", vary: "accept-encoding" });
    await a.handle(get("/v", { "accept-encoding": "gzip" }), upstream("gzip"));
    await a.handle(get("/v", { "accept-encoding": "br" }), upstream("br"));
    const none = fixedNext(500);
    expect((await b.handle(get("/v", { "accept-encoding": "br" }), none)).body?.toString()).toBe("br");
    expect((await b.handle(get("/v", { "accept-encoding": "gzip" }), none)).body?.toString()).toBe("gzip");
    expect(none.calls).toBe(0);

    const ttl = await clients[0]!.pttl(`${prefix}api.example.com/v\u0000gzip`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    await clock.advance(30_000);
    const failing = fixedNext(503, "down");
    const stale = await b.handle(get("/v", { "accept-encoding": "gzip" }), failing);
    expect(failing.calls).toBe(1);
    expect(stale.body?.toString()).toBe("gzip");
    expect(stale.headers["cache-status"]).toBe("flotilla; hit; fwd=stale; fwd-status=503");
  });

  it("invalidates for every gateway after an unsafe request", async () => {
    const a = await layerOnNewClient();
    const b = await layerOnNewClient();
    const upstream = fixedNext(200, "x", { "cache-control": "max-age=60" });
    await a.handle(get(), upstream);
    await b.handle(fakeExchange({ host: "api.example.com", path: "/items", method: "PUT" }), fixedNext(204));
    await a.handle(get(), upstream);
    expect(upstream.calls).toBe(2);
  });

  describe("when Redis cannot answer", () => {
    let servers: Server[];
    let sockets: Socket[];

    beforeEach(() => {
      servers = [];
      sockets = [];
    });

    afterEach(async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    });

    async function listen(server: Server): Promise<number> {
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return (server.address() as { port: number }).port;
    }

    async function closedPort(): Promise<number> {
      const server = createServer();
      const port = await listen(server);
      await new Promise((resolve) => server.close(resolve));
      servers.splice(servers.indexOf(server), 1);
      return port;
    }

    async function answersFromUpstream(redis: Redis, logger: GatewayLogger): Promise<void> {
      clients.push(redis);
      const cache = responseCacheLayer(options, {
        store: redisCacheStore({ redis, prefix, timeout: "50ms", logger }),
        clock,
      });
      const upstream = fixedNext(200, "from upstream", { "cache-control": "max-age=60" });
      for (let i = 0; i < 3; i++) {
        const response: GatewayResponse = await cache.handle(get(), upstream);
        expect(response.status).toBe(200);
        expect(response.body?.toString()).toBe("from upstream");
      }
      expect(upstream.calls).toBe(3);
    }

    it("answers from the upstream when nothing listens", async () => {
      const port = await closedPort();
      const logger = recordingLogger();
      const redis = new Redis({ host: "127.0.0.1", port, retryStrategy: () => 50 });
      redis.on("error", () => {});
      await answersFromUpstream(redis, logger);
      expect(logger.warnings.length).toBe(1);
    });

    it("answers from the upstream with a lazily connecting client", async () => {
      const port = await closedPort();
      const logger = recordingLogger();
      const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, retryStrategy: () => 50 });
      redis.on("error", () => {});
      await answersFromUpstream(redis, logger);
      expect(logger.warnings.length).toBeGreaterThan(0);
    });

    it("answers from the upstream when Redis accepts but never replies", async () => {
      const port = await listen(createServer((socket) => void sockets.push(socket)));
      const logger = recordingLogger();
      const redis = new Redis({ host: "127.0.0.1", port, enableReadyCheck: false, retryStrategy: () => 50 });
      redis.on("error", () => {});
      await new Promise<void>((resolve) => redis.once("connect", () => resolve()));
      await answersFromUpstream(redis, logger);
      expect(logger.warnings[0]).toMatchObject({ operation: "get" });
    });
  });

  it("serves a hit even while the upstream would fail", async () => {
    const a = await layerOnNewClient();
    await a.handle(get(), fixedNext(200, "ok", { "cache-control": "max-age=60" }));
    const broken = async (): Promise<GatewayResponse> => bufferedResponse(502, {}, undefined);
    expect((await a.handle(get(), broken)).status).toBe(200);
  });
});
