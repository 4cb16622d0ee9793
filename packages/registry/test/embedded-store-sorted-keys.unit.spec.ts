import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SortedKeys } from "../src/store/sorted-keys.js";

const key = fc.string({ unit: fc.constantFrom("a", "b", "c", "/", "z"), maxLength: 6 });
const op = fc.oneof(fc.record({ insert: key }), fc.record({ delete: key }));

describe("SortedKeys (the embedded store's key index)", () => {
  it("matches a sorted set under any sequence of inserts and deletes, for every prefix", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3_000 }), fc.array(key, { maxLength: 10 }), (ops, prefixes) => {
        const keys = new SortedKeys();
        const reference = new Set<string>();
        for (const o of ops) {
          if ("insert" in o) {
            keys.insert(o.insert);
            reference.add(o.insert);
          } else {
            expect(keys.delete(o.delete)).toBe(reference.delete(o.delete));
          }
        }
        const sorted = [...reference].sort();
        expect(keys.size).toBe(sorted.length);
        expect(keys.withPrefix("")).toEqual(sorted);
        for (const prefix of prefixes) {
          expect(keys.withPrefix(prefix)).toEqual(sorted.filter((k) => k.startsWith(prefix)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("splits chunks past 512 keys and merges them away when emptied", () => {
    const keys = new SortedKeys();
    const all = Array.from({ length: 5_000 }, (_, n) => `k${String(n).padStart(5, "0")}`);
    for (const k of [...all].reverse()) keys.insert(k);
    expect(keys.withPrefix("")).toEqual(all);
    expect(keys.withPrefix("k012")).toEqual(all.slice(1_200, 1_300));
    for (const k of all.filter((_, n) => n % 2 === 0)) keys.delete(k);
    expect(keys.withPrefix("")).toEqual(all.filter((_, n) => n % 2 === 1));
    for (const k of all) keys.delete(k);
    expect(keys.size).toBe(0);
    expect(keys.withPrefix("")).toEqual([]);
  });

  it("builds from sorted keys and keeps accepting inserts", () => {
    const all = Array.from({ length: 2_000 }, (_, n) => `k${String(n * 2).padStart(5, "0")}`);
    const keys = SortedKeys.fromSorted(all);
    keys.insert("k00001");
    keys.insert("zzz");
    keys.insert("a");
    expect(keys.withPrefix("")).toEqual(["a", "k00000", "k00001", ...all.slice(1), "zzz"]);
    expect(keys.size).toBe(2_003);
  });
});
