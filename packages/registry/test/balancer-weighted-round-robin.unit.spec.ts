import { describe, expect, it } from "vitest";
import { weightedRoundRobin } from "../src/balancer/weighted-round-robin.js";
import { inst, tally } from "./balancer-fixtures.js";

describe("weightedRoundRobin", () => {
  it("gives nginx's documented smooth sequence for weights 5:1:1", () => {
    const b = weightedRoundRobin();
    b.update([inst("a", 5), inst("b", 1), inst("c", 1)]);
    const seq = Array.from({ length: 14 }, () => b.pick()?.id).join(" ");
    expect(seq).toBe("a a b a c a a a a b a c a a");
  });

  it("gives each instance exactly its weight's share per cycle", () => {
    const b = weightedRoundRobin();
    b.update([inst("a", 3), inst("b", 2), inst("c", 0.5), inst("d", 4.5)]);
    const counts = tally(b, 10 * 10);
    expect(Object.fromEntries(counts)).toEqual({ a: 30, b: 20, c: 5, d: 45 });
  });

  it("never picks an instance of weight 0 and returns undefined when empty", () => {
    const b = weightedRoundRobin();
    expect(b.pick()).toBeUndefined();
    b.update([inst("a", 2), inst("zero", 0)]);
    expect(tally(b, 50).get("zero")).toBeUndefined();
  });

  it("keeps each surviving instance's running weight across an update", () => {
    const b = weightedRoundRobin();
    const members = [inst("a", 5), inst("b", 1), inst("c", 1)];
    b.update(members);
    const first = Array.from({ length: 3 }, () => b.pick()?.id);
    b.update(members.map((m) => ({ ...m })));
    const rest = Array.from({ length: 4 }, () => b.pick()?.id);
    expect([...first, ...rest].join(" ")).toBe("a a b a c a a");
  });

  it("drops a departed instance and keeps the rest in proportion", () => {
    const b = weightedRoundRobin();
    b.update([inst("a", 5), inst("b", 1), inst("c", 1)]);
    b.pick();
    b.update([inst("a", 5), inst("c", 1)]);
    expect(Object.fromEntries(tally(b, 60))).toEqual({ a: 50, c: 10 });
  });
});

describe("weightedRoundRobin above the EDF threshold", () => {
  const big = (n: number) => Array.from({ length: n }, (_, k) => inst(`i${k}`, 1 + (k % 4)));

  it("gives each of 1,000 instances exactly its weight's share per cycle", () => {
    const b = weightedRoundRobin();
    const members = big(1000);
    b.update(members);
    const cycle = members.reduce((sum, m) => sum + m.weight, 0);
    const counts = tally(b, cycle * 3);
    for (const m of members) expect(counts.get(m.id), m.id).toBe(m.weight * 3);
  });

  it("spreads a heavy instance's turns instead of bursting them", () => {
    const b = weightedRoundRobin();
    const members = [inst("heavy", 10), ...Array.from({ length: 100 }, (_, k) => inst(`l${k}`, 1))];
    b.update(members);
    const seq = Array.from({ length: 110 }, () => b.pick()?.id);
    let run = 0;
    let longest = 0;
    for (const id of seq) {
      run = id === "heavy" ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    expect(seq.filter((id) => id === "heavy")).toHaveLength(10);
    expect(longest).toBe(1);
  });

  it("keeps proportions across membership changes and crossing the threshold both ways", () => {
    const b = weightedRoundRobin();
    b.update(big(200));
    for (let k = 0; k < 333; k++) b.pick();
    const smaller = big(100);
    b.update(smaller);
    const cycle = smaller.reduce((sum, m) => sum + m.weight, 0);
    const counts = tally(b, cycle * 4);
    for (const m of smaller) expect(Math.abs(counts.get(m.id)! - m.weight * 4), m.id).toBeLessThanOrEqual(1);
    b.update([inst("a", 5), inst("b", 1), inst("c", 1)]);
    expect(Object.fromEntries(tally(b, 70))).toEqual({ a: 50, b: 10, c: 10 });
    expect(b.pick()).toBeDefined();
  });
});
