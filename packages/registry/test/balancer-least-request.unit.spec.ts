import { isConfigError } from "@flotilla/resilience";
import { describe, expect, it } from "vitest";
import { LeastRequestBalancer, leastRequest } from "../src/balancer/least-request.js";
import { seededRandom } from "../src/balancer/seeded-random.js";
import { inst, many, tally } from "./balancer-fixtures.js";

describe("leastRequest (power of two choices)", () => {
  it("spreads an idle membership within 3% of each weight share", () => {
    const b = leastRequest({ random: seededRandom(5) });
    const weights = [1, 2, 3, 4];
    b.update(weights.map((w, k) => inst(`w${k}`, w)));
    const picks = 200_000;
    const counts = tally(b, picks);
    weights.forEach((w, k) => {
      const share = (counts.get(`w${k}`) ?? 0) / picks;
      expect(Math.abs(share - w / 10) / (w / 10)).toBeLessThan(0.03);
    });
  });

  it("is uniform within 3% with equal weights", () => {
    const b = leastRequest({ random: seededRandom(6) });
    b.update(many(8));
    for (const count of tally(b, 80_000).values()) expect(Math.abs(count - 10_000)).toBeLessThan(300);
  });

  it("prefers the instance with fewer requests in flight", () => {
    const b = leastRequest({ random: seededRandom(7) });
    const [busy, idle] = [inst("busy"), inst("idle")];
    b.update([busy, idle]);
    b.onStart(busy);
    expect(b.activeRequests("busy")).toBe(1);
    // Two distinct candidates out of two: the idle one always wins.
    expect(Object.fromEntries(tally(b, 1000))).toEqual({ idle: 1000 });
    b.onEnd(busy);
    expect(b.activeRequests("busy")).toBe(0);
    expect(tally(b, 1000).get("busy")).toBeGreaterThan(400);
  });

  it("keeps in-flight requests per instance level under load", () => {
    const b = leastRequest({ random: seededRandom(8) });
    const members = many(10);
    b.update(members);
    // Hold 200 calls open: two choices keep the spread tight (random would be far wider).
    for (let k = 0; k < 200; k++) b.onStart(b.pick()!);
    const active = members.map((m) => b.activeRequests(m.id));
    expect(Math.max(...active) - Math.min(...active)).toBeLessThanOrEqual(3);
  });

  it("keeps in-flight requests proportional to weight under load", () => {
    const b = leastRequest({ random: seededRandom(9) });
    b.update([inst("heavy", 3), inst("light", 1)]);
    for (let k = 0; k < 400; k++) b.onStart(b.pick()!);
    expect(b.activeRequests("heavy") / b.activeRequests("light")).toBeCloseTo(3, 0);
  });

  it("never picks an instance of weight 0 and returns undefined when empty", () => {
    const b = leastRequest({ random: seededRandom(1) });
    expect(b.pick()).toBeUndefined();
    b.update([inst("zero", 0)]);
    expect(b.pick()).toBeUndefined();
    b.update([inst("a"), inst("zero", 0), inst("b")]);
    expect(tally(b, 1000).get("zero")).toBeUndefined();
    b.update([inst("only"), inst("zero", 0)]);
    expect(b.pick()?.id).toBe("only");
  });

  it("keeps the in-flight counts of surviving instances across an update", () => {
    const b = leastRequest({ random: seededRandom(2) });
    b.update([inst("a"), inst("b"), inst("c")]);
    b.onStart(inst("a"));
    b.onStart(inst("a"));
    b.onStart(inst("c"));
    b.update([inst("a"), inst("b")]);
    expect(b.activeRequests("a")).toBe(2);
    expect(b.activeRequests("c")).toBe(0);
    expect(Object.fromEntries(tally(b, 100))).toEqual({ b: 100 });
    // The end of a call to an instance that left is ignored, and counts never go negative.
    b.onEnd(inst("c"));
    b.onEnd(inst("b"));
    expect(b.activeRequests("b")).toBe(0);
  });

  it("rejects bad options with their path", () => {
    expect(() => new LeastRequestBalancer({ random: 3 } as never)).toThrowError(
      /random: expected a function/,
    );
    try {
      new LeastRequestBalancer({ choices: 3 } as never);
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error)).toBe(true);
      expect(String(error)).toContain("choices: unknown option");
    }
  });
});
