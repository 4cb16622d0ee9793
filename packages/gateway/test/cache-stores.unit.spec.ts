import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { CachedResponse, CacheEntry } from "../src/cache/cache-entry.js";
import { decodeCacheEntry, encodeCacheEntry } from "../src/cache/cache-entry-codec.js";
import { memoryCacheStore } from "../src/cache/memory-cache-store.js";
import { type RedisCacheClient, redisCacheStore } from "../src/cache/redis-cache-store.js";
import type { GatewayLogger } from "../src/chain/gateway-logger.js";

function response(body: string | Buffer, headers: CachedResponse["headers"] = {}): CachedResponse {
  return {
    kind: "response",
    status: 200,
    headers,
    body: typeof body === "string" ? Buffer.from(body) : body,
    storedAt: 1_700_000_000_123,
    freshUntil: 1_700_000_060_123,
    staleUntil: 1_700_000_120_123.5,
  };
}

describe("memoryCacheStore", () => {
  it("returns what was set until its ttl ends", async () => {
    const clock = new FakeClock(1000);
    const store = memoryCacheStore({ clock });
    const entry = response("x");
    await store.set("k", entry, 5_000);
    expect(await store.get("k")).toBe(entry);
    await clock.advance(4_999);
    expect(await store.get("k")).toBe(entry);
    await clock.advance(1);
    expect(await store.get("k")).toBeUndefined();
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
  });

  it("evicts the least recently used entry past maxEntries", async () => {
    const store = memoryCacheStore({ maxEntries: 2, clock: new FakeClock() });
    await store.set("a", response("a"), 60_000);
    await store.set("b", response("b"), 60_000);
    await store.get("a");
    await store.set("c", response("c"), 60_000);
    expect(await store.get("a")).toBeDefined();
    expect(await store.get("b")).toBeUndefined();
    expect(await store.get("c")).toBeDefined();
    expect(store.size).toBe(2);
  });

  it("evicts the least recently used entries past maxBytes", async () => {
    const store = memoryCacheStore({ maxBytes: 2_000, clock: new FakeClock() });
    await store.set("a", response(Buffer.alloc(700)), 60_000);
    await store.set("b", response(Buffer.alloc(700)), 60_000);
    expect(store.size).toBe(2);
    await store.get("a");
    await store.set("c", response(Buffer.alloc(700)), 60_000);
    expect(await store.get("b")).toBeUndefined();
    expect(await store.get("a")).toBeDefined();
    expect(await store.get("c")).toBeDefined();
    expect(store.bytes).toBeLessThanOrEqual(2_000);
  });

  it("does not keep an entry larger than maxBytes, and replacing an entry frees its bytes", async () => {
    const store = memoryCacheStore({ maxBytes: 1_000, clock: new FakeClock() });
    await store.set("small", response("x"), 60_000);
    const before = store.bytes;
    await store.set("huge", response(Buffer.alloc(2_000)), 60_000);
    expect(await store.get("huge")).toBeUndefined();
    expect(await store.get("small")).toBeDefined();
    await store.set("small", response("y"), 60_000);
    expect(store.bytes).toBe(before);
    await store.delete("small");
    expect(store.bytes).toBe(0);
  });

  it("rejects nonsense limits", () => {
    expect(() => memoryCacheStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => memoryCacheStore({ maxBytes: 1.5 })).toThrow(/maxBytes/);
  });
});

describe("cache entry codec", () => {
  it("round-trips a response with several-valued headers and a binary body", () => {
    const body = Buffer.from([0, 1, 2, 255, 254]);
    const entry = response(body, {
      "content-type": "application/octet-stream",
      link: ["<a>; rel=x", "<b>; rel=y"],
      "x-ünï": "välue",
    });
    const decoded = decodeCacheEntry(encodeCacheEntry(entry));
    expect(decoded).toEqual(entry);
  });

  it("round-trips a vary record", () => {
    const vary: CacheEntry = { kind: "vary", names: ["accept", "accept-encoding"], until: 1_700_000_000_000 };
    expect(decodeCacheEntry(encodeCacheEntry(vary))).toEqual(vary);
  });

  it("rejects what it did not write", () => {
    expect(decodeCacheEntry(Buffer.from("hello"))).toBeUndefined();
    expect(decodeCacheEntry(Buffer.alloc(0))).toBeUndefined();
    const truncated = encodeCacheEntry(response("x", { a: "b".repeat(100) })).subarray(0, 40);
    expect(decodeCacheEntry(truncated)).toBeUndefined();
  });
});

describe("redisCacheStore with a failing client", () => {
  function logger(): GatewayLogger & { warnings: object[] } {
    const warnings: object[] = [];
    return { warnings, info() {}, error() {}, debug() {}, warn: (obj) => void warnings.push(obj) };
  }

  function client(overrides: Partial<RedisCacheClient>): RedisCacheClient {
    return {
      status: "ready",
      getBuffer: () => Promise.reject(new Error("ECONNRESET")),
      set: () => Promise.reject(new Error("ECONNRESET")),
      del: () => Promise.reject(new Error("ECONNRESET")),
      ...overrides,
    };
  }

  it("reports errors as misses and warns at most once per interval", async () => {
    const clock = new FakeClock(0);
    const log = logger();
    const store = redisCacheStore({
      redis: client({}),
      logger: log,
      clock,
      warnInterval: "10s",
      pauseAfterFailure: 0,
    });
    expect(await store.get("k")).toBeUndefined();
    await store.set("k", response("x"), 1000);
    await store.delete("k");
    expect(log.warnings).toHaveLength(1);
    await clock.advance(10_000);
    expect(await store.get("k")).toBeUndefined();
    expect(log.warnings).toHaveLength(2);
    expect(log.warnings[1]).toMatchObject({ operation: "get", suppressed: 2 });
  });

  it("leaves Redis alone for pauseAfterFailure after a failure", async () => {
    const clock = new FakeClock(0);
    let calls = 0;
    const redis = client({
      getBuffer: () => {
        calls++;
        return Promise.reject(new Error("ETIMEDOUT"));
      },
    });
    const store = redisCacheStore({ redis, clock, pauseAfterFailure: "1s" });
    await store.get("k");
    await store.get("k");
    await store.set("k", response("x"), 1000);
    expect(calls).toBe(1);
    await clock.advance(1_000);
    await store.get("k");
    expect(calls).toBe(2);
  });

  it("does not wait on a client that is reconnecting", async () => {
    let calls = 0;
    const redis = client({
      status: "reconnecting",
      getBuffer: () => {
        calls++;
        return new Promise(() => {});
      },
    });
    const store = redisCacheStore({ redis });
    expect(await store.get("k")).toBeUndefined();
    expect(calls).toBe(0);
  });

  it("counts a command that does not answer within the timeout as a miss", async () => {
    const log = logger();
    const redis = client({ getBuffer: () => new Promise(() => {}) });
    const store = redisCacheStore({ redis, timeout: "5ms", logger: log });
    expect(await store.get("k")).toBeUndefined();
    expect(log.warnings[0]).toMatchObject({ operation: "get" });
  });

  it("reads back what it wrote, under its prefix, with a PX expiry", async () => {
    const data = new Map<string, Buffer>();
    const ttls: number[] = [];
    const redis = client({
      getBuffer: async (key) => data.get(key) ?? null,
      set: async (key, value, _px, ms) => {
        data.set(key, value);
        ttls.push(ms);
        return "OK";
      },
      del: async (key) => (data.delete(key) ? 1 : 0),
    });
    const store = redisCacheStore({ redis, prefix: "p:" });
    const entry = response("x", { etag: '"1"' });
    await store.set("k", entry, 1234.2);
    expect([...data.keys()]).toEqual(["p:k"]);
    expect(ttls).toEqual([1235]);
    expect(await store.get("k")).toEqual(entry);
    await store.delete("k");
    expect(await store.get("k")).toBeUndefined();
  });
});
