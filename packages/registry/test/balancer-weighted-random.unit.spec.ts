import { describe, expect, it } from "vitest";
import { seededRandom } from "../src/balancer/seeded-random.js";
import { weightedRandom } from "../src/balancer/weighted-random.js";
import { inst, many, tally } from "./balancer-fixtures.js";

describe("weightedRandom", () => {
  it("spreads picks within 3% of each instance's weight share", () => {
    const b = weightedRandom({ random: seededRandom(11) });
    const weights = [1, 2, 3, 4, 0.5];
    b.update(weights.map((w, k) => inst(`w${k}`, w)));
    const total = weights.reduce((s, w) => s + w, 0);
    const picks = 200_000;
    const counts = tally(b, picks);
    weights.forEach((w, k) => {
      const share = (counts.get(`w${k}`) ?? 0) / picks;
      expect(Math.abs(share - w / total) / (w / total)).toBeLessThan(0.03);
    });
  });

  it("is uniform when all weights are equal", () => {
    const b = weightedRandom({ random: seededRandom(12) });
    b.update(many(10));
    for (const count of tally(b, 100_000).values()) expect(Math.abs(count - 10_000)).toBeLessThan(300);
  });

  it("repeats the same picks for the same seed", () => {
    const run = () => {
      const b = weightedRandom({ random: seededRandom(99) });
      b.update([inst("a", 1), inst("b", 3)]);
      return Array.from({ length: 100 }, () => b.pick()?.id);
    };
    expect(run()).toEqual(run());
  });

  it("never picks an instance of weight 0 and returns undefined when empty", () => {
    const b = weightedRandom({ random: seededRandom(1) });
    expect(b.pick()).toBeUndefined();
    b.update([inst("a", 1), inst("zero", 0), inst("nan", Number.NaN), inst("neg", -1)]);
    expect([...tally(b, 1000).keys()]).toEqual(["a"]);
  });
});
