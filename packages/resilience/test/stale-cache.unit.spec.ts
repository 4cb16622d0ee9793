import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { StaleCache } from "../src/fallback/stale-cache.js";
import { FakeClock } from "../src/testing/index.js";

describe("StaleCache", () => {
  it("returns the stored value with its age", () => {
    const clock = new FakeClock(100);
    const cache = new StaleCache<string>({ ttl: "1s" }, clock);
    cache.set("a", "A");
    clock.set(350);
    expect(cache.lookup("a")).toEqual({ value: "A", ageMs: 250 });
  });

  it("keeps only the last value written for a key, stamped at its write", () => {
    const clock = new FakeClock();
    const cache = new StaleCache<number>({ ttl: 1000 }, clock);
    cache.set("a", 1);
    clock.set(600);
    cache.set("a", 2);
    clock.set(1500);
    expect(cache.lookup("a")).toEqual({ value: 2, ageMs: 900 });
    expect(cache.size).toBe(1);
  });

  it("serves an entry younger than ttl and drops it once it is ttl old", () => {
    const clock = new FakeClock();
    const cache = new StaleCache({ ttl: 1000 }, clock);
    cache.set("a", "A");
    clock.set(999);
    expect(cache.lookup("a")?.value).toBe("A");
    clock.set(1000);
    expect(cache.lookup("a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps undefined as a key of its own, apart from every string", () => {
    const cache = new StaleCache({ ttl: 1000 }, new FakeClock());
    cache.set(undefined, "default");
    cache.set("", "empty");
    expect(cache.lookup(undefined)?.value).toBe("default");
    expect(cache.lookup("")?.value).toBe("empty");
    expect(cache.lookup("undefined")).toBeUndefined();
  });

  it("evicts the least recently written key beyond maxEntries", () => {
    const clock = new FakeClock();
    const cache = new StaleCache({ ttl: "1h", maxEntries: 2 }, clock);
    cache.set("a", 1);
    cache.set("b", 2);
    cache.set("a", 3);
    cache.set("c", 4);
    expect(cache.size).toBe(2);
    expect(cache.lookup("b")).toBeUndefined();
    expect(cache.lookup("a")?.value).toBe(3);
    expect(cache.lookup("c")?.value).toBe(4);
  });

  it("does not count a read as a use for eviction", () => {
    const cache = new StaleCache({ ttl: "1h", maxEntries: 2 }, new FakeClock());
    cache.set("a", 1);
    cache.set("b", 2);
    cache.lookup("a");
    cache.set("c", 3);
    expect(cache.lookup("a")).toBeUndefined();
    expect(cache.lookup("b")?.value).toBe(2);
  });

  it("drops expired entries when a new key is written", () => {
    const clock = new FakeClock();
    const cache = new StaleCache({ ttl: 1000 }, clock);
    cache.set("a", 1);
    cache.set("b", 2);
    clock.set(500);
    cache.set("c", 3);
    clock.set(1200);
    cache.set("d", 4);
    expect(cache.size).toBe(2);
    expect(cache.lookup("c")?.value).toBe(3);
  });

  it("forgets a key on delete and every key on clear", () => {
    const cache = new StaleCache({ ttl: 1000 }, new FakeClock());
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.delete("a")).toBe(true);
    expect(cache.delete("a")).toBe(false);
    expect(cache.lookup("a")).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    cache.set("b", 5);
    expect(cache.lookup("b")?.value).toBe(5);
  });

  it("refuses a missing or zero ttl and a maxEntries below 1", () => {
    const issues = (run: () => unknown): string[] => {
      try {
        run();
      } catch (error) {
        if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    expect(issues(() => new StaleCache({} as never))).toEqual([
      'ttl: required: how long a result may be served, such as "5m"',
    ]);
    expect(issues(() => new StaleCache({ ttl: 0 }))).toEqual(["ttl: must be longer than 0 ms, got 0 ms"]);
    expect(issues(() => new StaleCache({ ttl: 1, maxEntries: 0.5 }))).toEqual([
      "maxEntries: expected a whole number, got 0.5",
    ]);
  });

  it("behaves like a model of last writes bounded by count and age", () => {
    type Op =
      | { kind: "set"; key: number; value: number }
      | { kind: "get"; key: number }
      | { kind: "tick"; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant("set" as const),
          key: fc.integer({ min: 0, max: 3 }),
          value: fc.integer(),
        }),
        weight: 3,
      },
      {
        arbitrary: fc.record({ kind: fc.constant("get" as const), key: fc.integer({ min: 0, max: 3 }) }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 20 }) }),
        weight: 1,
      },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { minLength: 10, maxLength: 60 }),
        (ttl, maxEntries, ops) => {
          const clock = new FakeClock();
          const cache = new StaleCache<number>({ ttl, maxEntries }, clock);
          // The model: every write in order; the answer for a key is its last write if that write
          // is among the last maxEntries distinct keys written and younger than ttl.
          const writes: { key: number; value: number; at: number }[] = [];
          for (const o of ops) {
            if (o.kind === "tick") clock.set(clock.now() + o.ms);
            else if (o.kind === "set") {
              cache.set(String(o.key), o.value);
              writes.push({ key: o.key, value: o.value, at: clock.now() });
            } else {
              const latest = new Map<number, { value: number; at: number }>();
              for (const w of writes) {
                latest.delete(w.key);
                latest.set(w.key, w);
              }
              const kept = [...latest.keys()].slice(-maxEntries);
              const last = latest.get(o.key);
              const expected =
                last !== undefined && kept.includes(o.key) && clock.now() - last.at < ttl
                  ? { value: last.value, ageMs: clock.now() - last.at }
                  : undefined;
              expect(cache.lookup(String(o.key))).toEqual(expected);
            }
            expect(cache.size).toBeLessThanOrEqual(maxEntries);
          }
        },
      ),
    );
  });
});
