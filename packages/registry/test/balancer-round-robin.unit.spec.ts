import { describe, expect, it } from "vitest";
import { roundRobin } from "../src/balancer/round-robin.js";
import { seededRandom } from "../src/balancer/seeded-random.js";
import { inst, many, tally } from "./balancer-fixtures.js";

describe("roundRobin", () => {
  it("visits every instance in order, exactly once per round", () => {
    const b = roundRobin({ randomStart: false });
    b.update(many(3));
    expect(Array.from({ length: 7 }, () => b.pick()?.id)).toEqual(["i0", "i1", "i2", "i0", "i1", "i2", "i0"]);
  });

  it("starts at a random instance by default, then rotates exactly", () => {
    const b = roundRobin({ random: seededRandom(3) });
    b.update(many(5));
    const picks = Array.from({ length: 50 }, () => b.pick()!.id);
    for (let k = 5; k < picks.length; k++) expect(picks[k]).toBe(picks[k - 5]);
    expect(new Set(picks.slice(0, 5)).size).toBe(5);
    expect([...tally(b, 5_000).values()]).toEqual([1000, 1000, 1000, 1000, 1000]);
  });

  it("never picks an instance of weight 0", () => {
    const b = roundRobin({ randomStart: false });
    b.update([inst("a"), inst("zero", 0), inst("b")]);
    expect(tally(b, 100).get("zero")).toBeUndefined();
  });

  it("returns undefined with no instances, or none of positive weight", () => {
    const b = roundRobin();
    expect(b.pick()).toBeUndefined();
    b.update([inst("zero", 0)]);
    expect(b.pick()).toBeUndefined();
  });

  it("goes on from the same position after an update", () => {
    const b = roundRobin({ randomStart: false });
    b.update(many(4));
    b.pick();
    b.pick();
    b.update(many(4));
    expect(b.pick()?.id).toBe("i2");
  });
});
