import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Balancer } from "../src/balancer/balancer.js";
import { MaglevBalancer, maglev } from "../src/balancer/maglev.js";
import { RingHashBalancer, ringHash } from "../src/balancer/ring-hash.js";
import { seededRandom } from "../src/balancer/seeded-random.js";
import { inst, many, tally } from "./balancer-fixtures.js";

const keys = Array.from({ length: 10_000 }, (_, k) => `user-${k}`);

function mapping(b: Balancer, keyList: readonly string[] = keys): string[] {
  return keyList.map((key) => b.pick({ key })!.id);
}

function moved(before: readonly string[], after: readonly string[]): number {
  let n = 0;
  for (let k = 0; k < before.length; k++) if (before[k] !== after[k]) n++;
  return n / before.length;
}

const algorithms: [string, () => RingHashBalancer | MaglevBalancer, number][] = [
  // name, factory, ε over 1/N when one of N leaves
  ["ringHash", () => ringHash({ random: seededRandom(1) }), 0.02],
  ["maglev", () => maglev({ random: seededRandom(1) }), 0.02],
];

describe.each(algorithms)("%s", (_name, make, epsilon) => {
  it("maps the same key to the same instance, whatever order discovery lists them in", () => {
    const a = make();
    const b = make();
    const members = many(10);
    a.update(members);
    b.update([...members].reverse());
    const first = mapping(a);
    expect(mapping(a)).toEqual(first);
    expect(mapping(b)).toEqual(first);
    expect(new Set(first).size).toBe(10);
  });

  it("remaps at most 1/N + ε of keys when one of N = 10 instances leaves, only keys it held", () => {
    const b = make();
    const members = many(10);
    b.update(members);
    const before = mapping(b);
    b.update(members.filter((m) => m.id !== "i3"));
    const after = mapping(b);
    expect(moved(before, after)).toBeLessThanOrEqual(1 / 10 + epsilon);
    const heldByOthers = before.map((id, k) => (id === "i3" ? undefined : [id, after[k]]));
    const stray = heldByOthers.filter((p) => p !== undefined && p[0] !== p[1]).length / keys.length;
    expect(stray).toBeLessThanOrEqual(epsilon);
  });

  it("remaps at most about its share when a member leaves any random membership", () => {
    const sample = keys.slice(0, 2000);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 24 }),
        fc.nat(),
        (ids, which) => {
          const members = ids.map((id) => inst(id));
          const b = make();
          b.update(members);
          const before = mapping(b, sample);
          const leaving = members[which % members.length]!.id;
          b.update(members.filter((m) => m.id !== leaving));
          const after = mapping(b, sample);
          const held = before.filter((id) => id === leaving).length / sample.length;
          return moved(before, after) <= held + 0.03 && !after.includes(leaving);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("spreads keys evenly, and in proportion to weight", () => {
    const b = make();
    b.update([...many(4), inst("double", 2)]);
    const counts = tally(b, keys.length, (k) => keys[k]!);
    for (const id of ["i0", "i1", "i2", "i3"])
      expect(Math.abs(counts.get(id)! / 10_000 - 1 / 6)).toBeLessThan(0.04);
    expect(Math.abs(counts.get("double")! / 10_000 - 2 / 6)).toBeLessThan(0.05);
  });

  it("picks at random without a key, never weight 0, and undefined when empty", () => {
    const b = make();
    expect(b.pick({ key: "x" })).toBeUndefined();
    expect(b.pick()).toBeUndefined();
    b.update([...many(3), inst("zero", 0)]);
    const counts = tally(b, 3000);
    expect(counts.get("zero")).toBeUndefined();
    expect(counts.size).toBe(3);
    expect(mapping(b).includes("zero")).toBe(false);
    b.update([inst("zero", 0)]);
    expect(b.pick({ key: "x" })).toBeUndefined();
  });
});

describe("ringHash options", () => {
  it("puts virtualNodes × weight points per instance on the ring", () => {
    const b = ringHash({ virtualNodes: 100 });
    b.update([inst("a", 1), inst("b", 2.5), inst("c", 0.001)]);
    expect(b.ringSize).toBe(100 + 250 + 1);
  });

  it("scales down to maxRingSize", () => {
    const b = ringHash({ virtualNodes: 100, maxRingSize: 100 });
    b.update(many(4));
    expect(b.ringSize).toBe(100);
  });

  it("rejects bad options with their path", () => {
    expect(() => new RingHashBalancer({ virtualNodes: 0 })).toThrowError(/virtualNodes: must be at least 1/);
  });
});

describe("maglev options", () => {
  it("requires a prime table size", () => {
    expect(() => new MaglevBalancer({ tableSize: 65536 })).toThrowError(/tableSize: must be a prime/);
    const b = new MaglevBalancer({ tableSize: 101 });
    b.update(many(3));
    expect(new Set(mapping(b, keys.slice(0, 500))).size).toBe(3);
  });
});
