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
