import { FakeClock } from "@flotilla/resilience/testing";
import { beforeEach, describe, expect, it } from "vitest";
import type { CacheEntry } from "../src/cache/cache-entry.js";
import type { CacheStore } from "../src/cache/cache-store.js";
import { type MemoryCacheStore, memoryCacheStore } from "../src/cache/memory-cache-store.js";
import { type ResponseCacheLayer, responseCacheLayer } from "../src/cache/response-cache-layer.js";
import {
  type ResponseCacheOptionsInput,
  responseCacheOptionsSchema,
} from "../src/cache/response-cache-options.js";
import type { Exchange } from "../src/chain/exchange.js";
import { GatewayError, GatewayErrorCode } from "../src/chain/gateway-error.js";
import { bufferedResponse, type GatewayResponse } from "../src/chain/gateway-response.js";
import type { Next } from "../src/chain/layer.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const start = Date.parse("2026-03-01T12:00:00Z");

type Reply = { status?: number; body?: string; headers?: Record<string, string | string[]> } | Error;

/** A `next` answering from a script, one reply per call (the last one repeats), recording each exchange. */
function scriptedNext(
  ...replies: Reply[]
): Next & { calls: number; seen: Exchange[]; bind(e: Exchange): Next } {
  const seen: Exchange[] = [];
  let calls = 0;
  const answer = async (): Promise<GatewayResponse> => {
    const reply = replies[Math.min(calls, replies.length - 1)]!;
    calls++;
    if (reply instanceof Error) throw reply;
    return bufferedResponse(reply.status ?? 200, { ...reply.headers }, Buffer.from(reply.body ?? ""));
  };
  const next = answer as Next & { calls: number; seen: Exchange[]; bind(e: Exchange): Next };
  Object.defineProperty(next, "calls", { get: () => calls });
  next.seen = seen;
  next.bind = (exchange) => () => {
    seen.push(exchange);
    return answer();
  };
  return next;
}

/** A store that never expires anything, to see what the layer decides by itself. */
function mapStore(): CacheStore & { entries: Map<string, CacheEntry> } {
  const entries = new Map<string, CacheEntry>();
  return {
    entries,
    get: async (key) => entries.get(key),
    set: async (key, entry) => {
      entries.set(key, entry);
    },
    delete: async (key) => {
      entries.delete(key);
    },
    close: async () => {},
  };
}

describe("responseCacheLayer", () => {
  let clock: FakeClock;
  let store: MemoryCacheStore;

  beforeEach(() => {
    clock = new FakeClock(start);
    store = memoryCacheStore({ clock });
  });

  function layer(
    options: ResponseCacheOptionsInput = {},
    cacheStore: CacheStore = store,
  ): ResponseCacheLayer {
    return responseCacheLayer(responseCacheOptionsSchema.parse(options), { store: cacheStore, clock });
  }

  function get(path = "/items", headers: Record<string, string> = {}, method = "GET"): Exchange {
    return fakeExchange({ method, host: "api.example.com", path, headers });
  }

  function text(response: GatewayResponse): string | undefined {
    return response.body?.toString();
  }

  it("stores a fresh response and answers the next request from the cache", async () => {
    const cache = layer();
    const next = fixedNext(200, "one", { "cache-control": "max-age=60", "content-type": "text/plain" });
    const first = await cache.handle(get(), next);
    expect(first.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; stored");
    expect(text(first)).toBe("one");

    const second = await cache.handle(get(), next);
    expect(next.calls).toBe(1);
    expect(second.status).toBe(200);
    expect(text(second)).toBe("one");
    expect(second.headers["content-type"]).toBe("text/plain");
    expect(second.headers["content-length"]).toBe("3");
    expect(second.headers.age).toBe("0");
    expect(second.headers["cache-status"]).toBe("flotilla; hit; ttl=60");
  });

  it("asks the upstream for a buffered body on a miss", async () => {
    const cache = layer();
    const exchange = get();
    await cache.handle(exchange, fixedNext(200, "x", { "cache-control": "max-age=60" }));
    expect(exchange.bufferResponse).toBe(true);
  });

  it("keys on host, path and query", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
    await cache.handle(fakeExchange({ host: "a.example", path: "/p", query: "?x=1" }), next);
    await cache.handle(fakeExchange({ host: "a.example", path: "/p", query: "?x=2" }), next);
    await cache.handle(fakeExchange({ host: "b.example", path: "/p", query: "?x=1" }), next);
    expect(next.calls).toBe(3);
    await cache.handle(fakeExchange({ host: "a.example", path: "/p", query: "?x=1" }), next);
    expect(next.calls).toBe(3);
  });

  it.each([
    ["an expiring store", false],
    ["a store that keeps entries", true],
  ])("lets Age grow and the remaining ttl shrink, then expires the entry, with %s", async (_name, keeps) => {
    const cache = keeps ? layer({}, mapStore()) : layer();
    const next = scriptedNext(
      { body: "old", headers: { "cache-control": "max-age=60" } },
      { body: "new", headers: { "cache-control": "max-age=60" } },
    );
    await cache.handle(get(), next);
    await clock.advance(25_500);
    const hit = await cache.handle(get(), next);
    expect(hit.headers.age).toBe("25");
    expect(hit.headers["cache-status"]).toBe("flotilla; hit; ttl=34");

    await clock.advance(34_500);
    const expired = await cache.handle(get(), next);
    expect(next.calls).toBe(2);
    expect(text(expired)).toBe("new");
    expect(expired.headers["cache-status"]).toBe(
      keeps ? "flotilla; fwd=stale; stored" : "flotilla; fwd=uri-miss; stored",
    );
    const refreshed = await cache.handle(get(), next);
    expect(text(refreshed)).toBe("new");
    expect(refreshed.headers.age).toBe("0");
  });

  it("counts the Age the upstream reported", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60", age: "50" });
    await cache.handle(get(), next);
    const hit = await cache.handle(get(), next);
    expect(hit.headers.age).toBe("50");
    expect(hit.headers["cache-status"]).toBe("flotilla; hit; ttl=10");
    await clock.advance(10_000);
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  it("prefers s-maxage over max-age", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=10, s-maxage=100" });
    await cache.handle(get(), next);
    await clock.advance(50_000);
    const hit = await cache.handle(get(), next);
    expect(next.calls).toBe(1);
    expect(hit.headers["cache-status"]).toBe("flotilla; hit; ttl=50");
  });

  it("takes freshness from Expires minus Date", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", {
      date: new Date(start).toUTCString(),
      expires: new Date(start + 30_000).toUTCString(),
    });
    await cache.handle(get(), next);
    await clock.advance(20_000);
    await cache.handle(get(), next);
    expect(next.calls).toBe(1);
    await clock.advance(10_000);
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  it("treats an invalid Expires as already expired", async () => {
    const cache = layer({ defaultTtl: "1m" });
    const next = fixedNext(200, "x", { expires: "0" });
    await cache.handle(get(), next);
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  it("stores a response without freshness only with the route's defaultTtl", async () => {
    const without = layer();
    const next = fixedNext(200, "x", {});
    const first = await without.handle(get(), next);
    await without.handle(get(), next);
    expect(next.calls).toBe(2);
    expect(first.headers["cache-status"]).toBe("flotilla; fwd=uri-miss");

    const withDefault = layer({ defaultTtl: "30s" }, memoryCacheStore({ clock }));
    const next2 = fixedNext(200, "x", {});
    await withDefault.handle(get(), next2);
    await clock.advance(29_000);
    await withDefault.handle(get(), next2);
    expect(next2.calls).toBe(1);
    await clock.advance(1_000);
    await withDefault.handle(get(), next2);
    expect(next2.calls).toBe(2);
  });

  it.each([
    ["no-store", "no-store, max-age=60"],
    ["private", "private, max-age=60"],
    ["no-cache", "no-cache, max-age=60"],
    ["private with field names", 'private="x-user", max-age=60'],
    ["max-age=0", "max-age=0"],
  ])("does not store a response with %s", async (_name, cacheControl) => {
    const cache = layer({ defaultTtl: "1m" });
    const next = fixedNext(200, "x", { "cache-control": cacheControl });
    const first = await cache.handle(get(), next);
    expect(first.headers["cache-status"]).toBe("flotilla; fwd=uri-miss");
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  it("stores only cacheable status codes", async () => {
    const cache = layer();
    for (const [status, stored] of [
      [200, true],
      [404, true],
      [410, true],
      [201, false],
      [302, false],
      [206, false],
    ] as const) {
      const next = fixedNext(status, "x", { "cache-control": "max-age=60" });
      const path = `/status-${status}`;
      await cache.handle(get(path), next);
      await cache.handle(get(path), next);
      expect(next.calls, `status ${status}`).toBe(stored ? 1 : 2);
    }
  });

  it("does not store a response with Set-Cookie unless allowed, and never keeps the cookie", async () => {
    const strict = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60", "set-cookie": "sid=1" });
    await strict.handle(get(), next);
    await strict.handle(get(), next);
    expect(next.calls).toBe(2);

    const allowing = layer({ cacheSetCookie: true }, memoryCacheStore({ clock }));
    const next2 = fixedNext(200, "x", { "cache-control": "max-age=60", "set-cookie": "sid=1" });
    const miss = await allowing.handle(get(), next2);
    expect(miss.headers["set-cookie"]).toBe("sid=1");
    const hit = await allowing.handle(get(), next2);
    expect(next2.calls).toBe(1);
    expect(hit.headers["set-cookie"]).toBeUndefined();
  });

  it("does not keep hop-by-hop fields", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", {
      "cache-control": "max-age=60",
      connection: "x-hop",
      "x-hop": "1",
      "keep-alive": "timeout=5",
      "x-kept": "yes",
    });
    await cache.handle(get(), next);
    const hit = await cache.handle(get(), next);
    expect(hit.headers["x-kept"]).toBe("yes");
    expect(hit.headers["x-hop"]).toBeUndefined();
    expect(hit.headers.connection).toBeUndefined();
    expect(hit.headers["keep-alive"]).toBeUndefined();
  });

  it("does not store a body over maxBodyBytes", async () => {
    const cache = layer({ maxBodyBytes: 4 });
    const big = fixedNext(200, "12345", { "cache-control": "max-age=60" });
    await cache.handle(get("/big"), big);
    await cache.handle(get("/big"), big);
    expect(big.calls).toBe(2);
    const small = fixedNext(200, "1234", { "cache-control": "max-age=60" });
    await cache.handle(get("/small"), small);
    await cache.handle(get("/small"), small);
    expect(small.calls).toBe(1);
  });

  it("keeps Vary variants apart", async () => {
    const cache = layer();
    const next = async (): Promise<GatewayResponse> => {
      throw new Error("unused");
    };
    const upstream = (encoding: string) =>
      fixedNext(200, `body-${encoding}`, { "cache-control": "max-age=60", vary: "Accept-Encoding" });
    const gzip = upstream("gzip");
    const br = upstream("br");
    expect(text(await cache.handle(get("/v", { "accept-encoding": "gzip" }), gzip))).toBe("body-gzip");
    const brMiss = await cache.handle(get("/v", { "accept-encoding": "br" }), br);
    expect(text(brMiss)).toBe("body-br");
    expect(brMiss.headers["cache-status"]).toBe("flotilla; fwd=vary-miss; stored");

    const gzipHit = await cache.handle(get("/v", { "accept-encoding": "gzip" }), next);
    const brHit = await cache.handle(get("/v", { "accept-encoding": "br" }), next);
    expect(text(gzipHit)).toBe("body-gzip");
    expect(text(brHit)).toBe("body-br");
    expect(brHit.headers["cache-status"]).toBe("flotilla; hit; ttl=60");
    expect(gzip.calls + br.calls).toBe(2);
  });

  it("treats an absent Vary header as a variant of its own", async () => {
    const cache = layer();
    const next = scriptedNext(
      { body: "plain", headers: { "cache-control": "max-age=60", vary: "accept-encoding" } },
      { body: "gz", headers: { "cache-control": "max-age=60", vary: "accept-encoding" } },
    );
    await cache.handle(get("/v"), next);
    expect(text(await cache.handle(get("/v", { "accept-encoding": "gzip" }), next))).toBe("gz");
    expect(text(await cache.handle(get("/v"), next))).toBe("plain");
    expect(next.calls).toBe(2);
  });

  it("does not store a response with Vary: *", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60", vary: "*" });
    await cache.handle(get(), next);
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  describe("requests with Authorization", () => {
    const auth = { authorization: "Bearer t" };

    it("bypass the cache by default", async () => {
      const cache = layer();
      const next = fixedNext(200, "x", { "cache-control": "public, max-age=60" });
      const exchange = get("/a", auth);
      const response = await cache.handle(exchange, next);
      await cache.handle(get("/a", auth), next);
      await cache.handle(get("/a"), next);
      expect(next.calls).toBe(3);
      expect(exchange.responseHeaders["cache-status"]).toBe("flotilla; fwd=bypass");
      expect(exchange.bufferResponse).toBe(false);
      expect(response.headers["cache-status"]).toBeUndefined();
    });

    it("count as authorized when authentication set an identity without Authorization", async () => {
      const cache = layer({ cacheAuthorized: true });
      const identity = {
        subject: "u1",
        consumer: "app",
        roles: [],
        scopes: [],
        method: "api-key" as const,
        claims: {},
      };
      const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
      await cache.handle(fakeExchange({ path: "/k", identity }), next);
      await cache.handle(fakeExchange({ path: "/k", identity }), next);
      expect(next.calls).toBe(2);
      const bypassing = layer();
      const exchange = fakeExchange({ path: "/k", identity });
      await bypassing.handle(exchange, next);
      expect(exchange.responseHeaders["cache-status"]).toBe("flotilla; fwd=bypass");
    });

    it("with cacheAuthorized, are stored only when the response says public or s-maxage", async () => {
      const cache = layer({ cacheAuthorized: true });
      const plain = fixedNext(200, "x", { "cache-control": "max-age=60" });
      await cache.handle(get("/plain", auth), plain);
      await cache.handle(get("/plain", auth), plain);
      expect(plain.calls).toBe(2);

      for (const cacheControl of ["public, max-age=60", "s-maxage=60"]) {
        const path = `/${cacheControl}`;
        const next = fixedNext(200, "x", { "cache-control": cacheControl });
        await cache.handle(get(path, auth), next);
        await cache.handle(get(path, auth), next);
        await cache.handle(get(path), next);
        expect(next.calls, cacheControl).toBe(1);
      }
    });
  });

  it("answers HEAD from a stored GET response, without a body", async () => {
    const cache = layer();
    const next = fixedNext(200, "hello", { "cache-control": "max-age=60" });
    await cache.handle(get(), next);
    const head = await cache.handle(get("/items", {}, "HEAD"), next);
    expect(next.calls).toBe(1);
    expect(head.status).toBe(200);
    expect(head.body).toBeUndefined();
    expect(head.headers["content-length"]).toBe("5");
    expect(head.headers["cache-status"]).toBe("flotilla; hit; ttl=60");
  });

  it("does not store a response to HEAD", async () => {
    const cache = layer();
    const next = fixedNext(200, "", { "cache-control": "max-age=60" });
    const head = await cache.handle(get("/items", {}, "HEAD"), next);
    expect(head.headers["cache-status"]).toBe("flotilla; fwd=uri-miss");
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  it.each(["no-cache", "max-age=0"])(
    "goes upstream and refreshes the entry on request %s",
    async (directive) => {
      const cache = layer();
      const next = scriptedNext(
        { body: "v1", headers: { "cache-control": "max-age=60" } },
        { body: "v2", headers: { "cache-control": "max-age=60" } },
      );
      await cache.handle(get(), next);
      const refreshed = await cache.handle(get("/items", { "cache-control": directive }), next);
      expect(next.calls).toBe(2);
      expect(text(refreshed)).toBe("v2");
      expect(refreshed.headers["cache-status"]).toBe("flotilla; fwd=request; stored");
      const hit = await cache.handle(get(), next);
      expect(text(hit)).toBe("v2");
      expect(next.calls).toBe(2);
    },
  );

  it("uses an entry younger than the request's max-age", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
    await cache.handle(get(), next);
    await clock.advance(10_000);
    await cache.handle(get("/items", { "cache-control": "max-age=20" }), next);
    expect(next.calls).toBe(1);
    await cache.handle(get("/items", { "cache-control": "max-age=5" }), next);
    expect(next.calls).toBe(2);
  });

  it("neither reads nor stores on request no-store", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
    await cache.handle(get(), next);
    const exchange = get("/items", { "cache-control": "no-store" });
    await cache.handle(exchange, next);
    expect(next.calls).toBe(2);
    expect(exchange.responseHeaders["cache-status"]).toBe("flotilla; fwd=request");
  });

  it("answers only-if-cached without an entry with 504", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
    const response = await cache.handle(get("/items", { "cache-control": "only-if-cached" }), next);
    expect(response.status).toBe(504);
    expect(next.calls).toBe(0);
  });

  describe("stale-if-error", () => {
    const swr = { "cache-control": "max-age=10, stale-if-error=60" };

    it("serves the stale entry when the upstream answers 503", async () => {
      const cache = layer();
      const next = scriptedNext({ body: "good", headers: swr }, { status: 503, body: "down" });
      await cache.handle(get(), next);
      await clock.advance(30_000);
      const response = await cache.handle(get(), next);
      expect(next.calls).toBe(2);
      expect(response.status).toBe(200);
      expect(text(response)).toBe("good");
      expect(response.headers["cache-status"]).toBe("flotilla; hit; fwd=stale; fwd-status=503");
      expect(response.headers.age).toBe("30");
      expect(response.headers.warning).toBeUndefined();
    });

    it("serves the stale entry when the upstream step throws", async () => {
      const cache = layer();
      const next = scriptedNext(
        { body: "good", headers: swr },
        new GatewayError(GatewayErrorCode.Unavailable, "no healthy instance"),
        new Error("socket hang up"),
      );
      await cache.handle(get(), next);
      await clock.advance(30_000);
      const first = await cache.handle(get(), next);
      expect(text(first)).toBe("good");
      expect(first.headers["cache-status"]).toBe("flotilla; hit; fwd=stale; fwd-status=503");
      const second = await cache.handle(get(), next);
      expect(text(second)).toBe("good");
      expect(second.headers["cache-status"]).toBe("flotilla; hit; fwd=stale");
    });

    it("does not serve stale after the window", async () => {
      const cache = layer();
      const next = scriptedNext({ body: "good", headers: swr }, { status: 503, body: "down" });
      await cache.handle(get(), next);
      await clock.advance(70_000);
      const response = await cache.handle(get(), next);
      expect(response.status).toBe(503);
      expect(text(response)).toBe("down");
      expect(response.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; fwd-status=503");

      const throwing = scriptedNext({ body: "good", headers: swr }, new Error("boom"));
      await cache.handle(get("/t"), throwing);
      await clock.advance(70_000);
      await expect(cache.handle(get("/t"), throwing)).rejects.toThrow("boom");
    });

    it("checks the window itself when the store still holds the entry", async () => {
      const cache = layer({}, mapStore());
      const next = scriptedNext({ body: "good", headers: swr }, { status: 503, body: "down" });
      await cache.handle(get(), next);
      await clock.advance(69_000);
      expect(text(await cache.handle(get(), next))).toBe("good");
      await clock.advance(1_000);
      expect((await cache.handle(get(), next)).status).toBe(503);
    });

    it("does not serve stale without a window", async () => {
      const cache = layer();
      const next = scriptedNext(
        { body: "good", headers: { "cache-control": "max-age=10" } },
        { status: 502 },
      );
      await cache.handle(get(), next);
      await clock.advance(11_000);
      expect((await cache.handle(get(), next)).status).toBe(502);
    });

    it("takes the window from the route's staleIfError when the response has none", async () => {
      const cache = layer({ staleIfError: "1m" });
      const next = scriptedNext(
        { body: "good", headers: { "cache-control": "max-age=10" } },
        { status: 504 },
      );
      await cache.handle(get(), next);
      await clock.advance(69_000);
      expect(text(await cache.handle(get(), next))).toBe("good");
      await clock.advance(2_000);
      expect((await cache.handle(get(), next)).status).toBe(504);
    });

    it("gives must-revalidate responses no window from the route option", async () => {
      const cache = layer({ staleIfError: "1m" });
      const next = scriptedNext(
        { body: "good", headers: { "cache-control": "max-age=10, must-revalidate" } },
        { status: 503 },
      );
      await cache.handle(get(), next);
      await clock.advance(20_000);
      expect((await cache.handle(get(), next)).status).toBe(503);
    });

    it("passes a fresh upstream answer through and stores it while a stale entry exists", async () => {
      const cache = layer();
      const next = scriptedNext({ body: "v1", headers: swr }, { body: "v2", headers: swr });
      await cache.handle(get(), next);
      await clock.advance(20_000);
      const refreshed = await cache.handle(get(), next);
      expect(text(refreshed)).toBe("v2");
      expect(refreshed.headers["cache-status"]).toBe("flotilla; fwd=stale; stored");
      expect(text(await cache.handle(get(), next))).toBe("v2");
      expect(next.calls).toBe(2);
    });
  });

  it("collapses concurrent misses of one key into one upstream request", async () => {
    const cache = layer();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const next = async (): Promise<GatewayResponse> => {
      calls++;
      await gate;
      return bufferedResponse(200, { "cache-control": "max-age=60" }, Buffer.from("shared"));
    };
    const pending = [cache.handle(get(), next), cache.handle(get(), next), cache.handle(get(), next)];
    release();
    const responses = await Promise.all(pending);
    expect(calls).toBe(1);
    expect(responses.map(text)).toEqual(["shared", "shared", "shared"]);
    expect(responses[0]!.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; stored");
    expect(responses[1]!.headers["cache-status"]).toBe("flotilla; fwd=uri-miss; collapsed");
  });

  it("sends waiters upstream themselves when the shared response is not storable or past maxWaiters", async () => {
    const cache = responseCacheLayer(responseCacheOptionsSchema.parse({}), { store, clock, maxWaiters: 1 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const next = async (): Promise<GatewayResponse> => {
      calls++;
      await gate;
      return bufferedResponse(200, { "cache-control": "private, max-age=60" }, Buffer.from(`r${calls}`));
    };
    const pending = [cache.handle(get(), next), cache.handle(get(), next), cache.handle(get(), next)];
    release();
    await Promise.all(pending);
    expect(calls).toBe(3);
  });

  it("does not hand a collapsed response to a waiter of another variant", async () => {
    const cache = layer();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const next = (encoding: string) => async (): Promise<GatewayResponse> => {
      await gate;
      return bufferedResponse(
        200,
        { "cache-control": "max-age=60", vary: "accept-encoding" },
        Buffer.from(encoding),
      );
    };
    const pending = [
      cache.handle(get("/v", { "accept-encoding": "gzip" }), next("gzip")),
      cache.handle(get("/v", { "accept-encoding": "br" }), next("br")),
    ];
    release();
    const [gzip, br] = await Promise.all(pending);
    expect(text(gzip!)).toBe("gzip");
    expect(text(br!)).toBe("br");
  });

  it("invalidates the URL after a successful unsafe request", async () => {
    const cache = layer();
    const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
    await cache.handle(get(), next);
    await cache.handle(get("/items", {}, "POST"), fixedNext(500));
    await cache.handle(get(), next);
    expect(next.calls).toBe(1);
    await cache.handle(get("/items", {}, "DELETE"), fixedNext(204));
    await cache.handle(get(), next);
    expect(next.calls).toBe(2);
  });

  it("answers a matching If-None-Match with 304, from the cache and on the storing miss", async () => {
    const cache = layer();
    const next = scriptedNext({ body: "x", headers: { "cache-control": "max-age=60", etag: '"v1"' } });
    const exchange = get("/items", { "if-none-match": 'W/"v1"' });
    const miss = await cache.handle(exchange, next.bind(exchange));
    expect(exchange.upstreamHeaders["if-none-match"]).toBeNull();
    expect(miss.status).toBe(304);
    expect(miss.headers.etag).toBe('"v1"');
    expect(miss.body).toBeUndefined();

    const hit = await cache.handle(get("/items", { "if-none-match": '"v0", "v1"' }), next);
    expect(hit.status).toBe(304);
    expect(hit.headers["cache-status"]).toBe("flotilla; hit; ttl=60");
    const other = await cache.handle(get("/items", { "if-none-match": '"v2"' }), next);
    expect(other.status).toBe(200);
    expect(next.calls).toBe(1);
  });

  it("answers from upstream when the store fails", async () => {
    const failing: CacheStore = {
      get: () => Promise.reject(new Error("down")),
      set: () => Promise.reject(new Error("down")),
      delete: () => Promise.reject(new Error("down")),
      close: () => Promise.resolve(),
    };
    const cache = layer({}, failing);
    const next = fixedNext(200, "x", { "cache-control": "max-age=60" });
    const response = await cache.handle(get(), next);
    expect(text(response)).toBe("x");
    expect((await cache.handle(get(), next)).status).toBe(200);
    expect((await cache.handle(get("/items", {}, "PUT"), next)).status).toBe(200);
    expect(next.calls).toBe(3);
  });

  it("writes a vary record and the variant to the store", async () => {
    const recording = mapStore();
    const entries = recording.entries;
    const cache = layer({}, recording);
    await cache.handle(
      get("/v", { "accept-encoding": "gzip" }),
      fixedNext(200, "x", { "cache-control": "max-age=60", vary: "Accept-Encoding, Accept-Encoding" }),
    );
    expect(entries.get("api.example.com/v")).toEqual({
      kind: "vary",
      names: ["accept-encoding"],
      until: start + 60_000,
    });
    expect(entries.get("api.example.com/v\u0000gzip")?.kind).toBe("response");
  });

  it("passes other methods through untouched", async () => {
    const cache = layer();
    const exchange = get("/items", {}, "POST");
    const response = await cache.handle(exchange, fixedNext(201, "made"));
    expect(response.status).toBe(201);
    expect(exchange.bufferResponse).toBe(false);
    expect(response.headers["cache-status"]).toBeUndefined();
  });
});
