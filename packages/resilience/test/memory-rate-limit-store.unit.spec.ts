import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { gcraDecide, gcraRule } from "../src/rate-limiter/gcra.js";
import { MemoryRateLimitStore, memoryRateLimitStore } from "../src/rate-limiter/memory-rate-limit-store.js";

/** 10 per second with no burst: each allowed request keeps its key for 100 ms. */
const rule = gcraRule(10, 1000, 0);

describe("MemoryRateLimitStore", () => {
  it("decides exactly as gcraDecide on each key's TAT", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.constantFrom("a", "b", "c"),
            gap: fc.integer({ min: 0, max: 300 }),
            permits: fc.integer({ min: 0, max: 3 }),
          }),
          { maxLength: 80 },
        ),
        (requests) => {
          const store = memoryRateLimitStore();
          const rule = gcraRule(10, 1000, 2);
          const tats = new Map<string, number | undefined>();
          let now = 0;
          for (const request of requests) {
            now += request.gap;
            const expected = gcraDecide(tats.get(request.key), rule, request.permits, now);
            if (expected.decision.allowed) tats.set(request.key, expected.newTat);
            expect(store.acquire(request.key, rule, request.permits, now)).toEqual(expected.decision);
          }
        },
      ),
    );
  });

  it("stores nothing for a refused request", () => {
    const store = new MemoryRateLimitStore();
    store.acquire("a", rule, 2, 0);
    expect(store.size).toBe(0);
  });

  it("treats an expired entry as an unknown key and drops it when a new key arrives", () => {
    const store = new MemoryRateLimitStore();
    store.acquire("a", rule, 1, 0);
    store.acquire("b", rule, 1, 50);
    expect(store.acquire("a", rule, 1, 100)).toEqual(gcraDecide(undefined, rule, 1, 100).decision);
    store.acquire("c", rule, 1, 160);
    expect(store.size).toBe(2);
  });

  it("drops expired entries before live ones when full", () => {
    const store = new MemoryRateLimitStore({ maxKeys: 3 });
    const bursty = gcraRule(10, 1000, 4);
    store.acquire("a", bursty, 5, 0);
    store.acquire("b", bursty, 1, 10);
    store.acquire("c", bursty, 1, 20);
    store.acquire("d", bursty, 1, 200);
    expect(store.size).toBe(2);
    expect(store.acquire("a", bursty, 1, 200)).toMatchObject({ allowed: true, remaining: 1 });
  });

  it("drops the least recently written key when every entry is live", () => {
    const store = new MemoryRateLimitStore({ maxKeys: 2 });
    const bursty = gcraRule(10, 1000, 1);
    store.acquire("a", bursty, 1, 0);
    store.acquire("b", bursty, 1, 10);
    store.acquire("a", bursty, 1, 20);
    store.acquire("c", bursty, 1, 30);
    expect(store.size).toBe(2);
    expect(store.acquire("a", bursty, 1, 30).allowed).toBe(false);
    expect(store.acquire("b", bursty, 1, 30)).toMatchObject({ allowed: true, remaining: 1 });
  });

  it("never holds more than maxKeys keys", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 12 }), gap: fc.integer({ min: 0, max: 60 }) }), {
          maxLength: 100,
        }),
        (maxKeys, requests) => {
          const store = new MemoryRateLimitStore({ maxKeys });
          let now = 0;
          for (const request of requests) {
            now += request.gap;
            store.acquire(String(request.key), rule, 1, now);
            expect(store.size).toBeLessThanOrEqual(maxKeys);
          }
        },
      ),
    );
  });

  it("forgets every key on clear", () => {
    const store = new MemoryRateLimitStore();
    store.acquire("a", rule, 1, 0);
    store.clear();
    expect(store.size).toBe(0);
    expect(store.acquire("a", rule, 1, 0).allowed).toBe(true);
  });

  it("rejects a maxKeys that is not a whole number of at least 1", () => {
    expect(() => new MemoryRateLimitStore({ maxKeys: 0 })).toThrow(ConfigError);
    expect(() => new MemoryRateLimitStore({ maxKeys: 2.5 })).toThrow(ConfigError);
    expect(() => new MemoryRateLimitStore({ maxkeys: 10 } as never)).toThrow(ConfigError);
  });
});
