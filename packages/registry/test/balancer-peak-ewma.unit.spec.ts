import { isConfigError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { CallResult } from "../src/balancer/balancer.js";
import { isFailedCall, type PeakEwmaOptions, peakEwma } from "../src/balancer/peak-ewma.js";
import { seededRandom } from "../src/balancer/seeded-random.js";
import type { ServiceInstance } from "../src/instance.js";
import { inst, many } from "./balancer-fixtures.js";

/**
 * Drives a balancer for `ms` simulated milliseconds at `perMs` calls a millisecond; each call
 * ends after the latency (and with the status) `respond` gives its instance. Returns the share
 * of calls each instance received after the first `warmupMs`.
 */
function simulate(
  options: PeakEwmaOptions,
  members: ServiceInstance[],
  respond: (instance: ServiceInstance) => CallResult,
  { ms = 30_000, perMs = 2, warmupMs = 5_000 } = {},
): Map<string, number> {
  const clock = new FakeClock();
  const b = peakEwma({ random: seededRandom(21), clock, ...options });
  b.update(members);
  const pending: { at: number; instance: ServiceInstance; result: CallResult }[] = [];
  const counts = new Map<string, number>();
  let total = 0;
  for (let t = 0; t < ms; t++) {
    clock.set(t);
    for (let k = pending.length - 1; k >= 0; k--) {
      const call = pending[k]!;
      if (call.at > t) continue;
      b.onEnd(call.instance, call.result);
      pending.splice(k, 1);
    }
    for (let r = 0; r < perMs; r++) {
      const instance = b.pick()!;
      b.onStart(instance);
      const result = respond(instance);
      pending.push({ at: t + Math.max(1, result.latencyMs), instance, result });
      if (t >= warmupMs) {
        counts.set(instance.id, (counts.get(instance.id) ?? 0) + 1);
        total++;
      }
    }
  }
  for (const [id, n] of counts) counts.set(id, n / total);
  return counts;
}

describe("peakEwma", () => {
  it("moves traffic away from a slow instance", () => {
    const members = many(5);
    const share = simulate({}, members, (i) => ({ latencyMs: i.id === "i0" ? 200 : 10, status: 200 }));
    expect(share.get("i0") ?? 0).toBeLessThan(0.05);
    for (const m of members.slice(1)) expect(share.get(m.id)).toBeGreaterThan(0.2);
  });

  it("moves traffic away from an instance that fails fast with 503", () => {
    const members = many(5);
    const respond = (i: ServiceInstance): CallResult =>
      i.id === "i0" ? { latencyMs: 1, status: 503 } : { latencyMs: 10, status: 200 };
    expect(simulate({}, members, respond).get("i0") ?? 0).toBeLessThan(0.05);
    // Without the penalty the fast failure is what a latency-only balancer would love.
    expect(simulate({ isFailure: () => false }, members, respond).get("i0")).toBeGreaterThan(0.3);
  });

  it("penalises errors and 429s too, by the configured amount", () => {
    expect(isFailedCall({ latencyMs: 1, error: new Error("reset") })).toBe(true);
    expect(isFailedCall({ latencyMs: 1, status: 429 })).toBe(true);
    expect(isFailedCall({ latencyMs: 1, status: 500 })).toBe(true);
    expect(isFailedCall({ latencyMs: 1, status: 404 })).toBe(false);
    expect(isFailedCall({ latencyMs: 1 })).toBe(false);
    const clock = new FakeClock();
    const b = peakEwma({ clock, failurePenalty: "250ms", defaultRtt: 0 });
    b.update([inst("a")]);
    b.onStart(inst("a"));
    b.onEnd(inst("a"), { latencyMs: 3, error: new Error("refused") });
    expect(b.latencyEstimate("a")).toBe(250);
  });

  it("takes a slower sample at once and decays toward faster ones with the time constant", () => {
    const clock = new FakeClock();
    const b = peakEwma({ clock, decay: "10s", defaultRtt: "30ms" });
    b.update([inst("a")]);
    expect(b.latencyEstimate("a")).toBe(30);
    b.onEnd(inst("a"), { latencyMs: 100, status: 200 });
    expect(b.latencyEstimate("a")).toBe(100);
    clock.set(10_000);
    b.onEnd(inst("a"), { latencyMs: 0, status: 200 });
    expect(b.latencyEstimate("a")).toBeCloseTo(100 * Math.exp(-1), 6);
    clock.set(20_000);
    expect(b.latencyEstimate("a")).toBeCloseTo(100 * Math.exp(-2), 6);
  });

  it("prefers the instance with fewer requests in flight when latencies are equal", () => {
    const b = peakEwma({ clock: new FakeClock(), random: seededRandom(4) });
    b.update([inst("busy"), inst("idle")]);
    b.onStart(inst("busy"));
    for (let k = 0; k < 100; k++) expect(b.pick()?.id).toBe("idle");
  });

  it("keeps latency estimates and in-flight counts of surviving instances across an update", () => {
    const clock = new FakeClock();
    const b = peakEwma({ clock, random: seededRandom(3) });
    b.update([inst("slow"), inst("fast"), inst("gone")]);
    b.onStart(inst("slow"));
    b.onEnd(inst("slow"), { latencyMs: 500, status: 200 });
    b.onStart(inst("fast"));
    b.update([inst("slow"), inst("fast"), inst("new")]);
    expect(b.latencyEstimate("slow")).toBe(500);
    expect(b.activeRequests("fast")).toBe(1);
    expect(b.latencyEstimate("new")).toBe(30);
    expect(b.latencyEstimate("gone")).toBeUndefined();
    for (let k = 0; k < 200; k++) expect(b.pick()?.id).not.toBe("slow");
  });

  it("never picks weight 0, returns undefined when empty, and respects weights when idle", () => {
    const b = peakEwma({ clock: new FakeClock(), random: seededRandom(8) });
    expect(b.pick()).toBeUndefined();
    b.update([inst("a", 3), inst("b", 1), inst("zero", 0)]);
    const counts = new Map<string, number>();
    for (let k = 0; k < 100_000; k++) {
      const id = b.pick()!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get("zero")).toBeUndefined();
    expect(Math.abs(counts.get("a")! / 100_000 - 0.75)).toBeLessThan(0.0225);
  });

  it("rejects bad options with their path", () => {
    try {
      peakEwma({ decay: "soon" as never, failurePenalty: -1, clock: {} as never });
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error)).toBe(true);
      expect(String(error)).toMatch(/decay:/);
      expect(String(error)).toMatch(/failurePenalty: expected a non-negative/);
      expect(String(error)).toMatch(/clock: expected a Clock/);
    }
  });
});
