import type { Clock, TimerHandle } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type OutlierDetector, outlierDetector } from "../src/outlier/outlier-detector.js";
import type { OutlierDetectorOptions } from "../src/outlier/outlier-detector-options.js";
import type { OutlierEvent } from "../src/outlier/outlier-event.js";
import type { OutlierOutcome } from "../src/outlier/outlier-outcome.js";

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i${i}`);

/** A detector over `members` instances (10 by default, so one may be ejected at 10 %), with its events. */
function setup(options: OutlierDetectorOptions = {}, members = 10) {
  const clock = new FakeClock();
  const detector = outlierDetector({ clock, ...options });
  detector.update(ids(members));
  const events: OutlierEvent[] = [];
  detector.events.subscribe((event) => events.push(event));
  return { clock, detector, events };
}

function fail(detector: OutlierDetector, id: string, times: number, outcome: OutlierOutcome = 500): void {
  for (let i = 0; i < times; i++) detector.record(id, outcome);
}

describe("OutlierDetector: consecutive errors", () => {
  it("ejects an instance at the consecutive5xx-th error in a row and not before", () => {
    const { detector, events } = setup({ consecutive5xx: 5 });
    fail(detector, "i3", 4);
    expect(detector.isEjected("i3")).toBe(false);
    expect(events).toEqual([]);
    detector.record("i3", 503);
    expect(detector.isEjected("i3")).toBe(true);
    expect(detector.isEjected("i4")).toBe(false);
    expect(events).toEqual([
      {
        type: "ejected",
        name: "default",
        instanceId: "i3",
        reason: "consecutive5xx",
        times: 1,
        multiplier: 1,
        durationMs: 30_000,
        untilMs: 30_000,
      },
    ]);
    expect(detector.snapshot()).toMatchObject({
      ejected: ["i3"],
      ejectionsTotal: 1,
      ejectionsConsecutive5xx: 1,
    });
  });

  it("counts connection errors and 5xx statuses alike, and every other status as a success", () => {
    const { detector } = setup({ consecutive5xx: 3 });
    detector.record("i0", "connectionError");
    detector.record("i0", "serverError");
    detector.record("i0", 404); // a 4xx is the instance working correctly
    detector.record("i0", "gatewayError");
    detector.record("i0", 599);
    expect(detector.isEjected("i0")).toBe(false);
    detector.record("i0", "connectionError");
    expect(detector.isEjected("i0")).toBe(true);
  });

  it("a success resets the run", () => {
    const { detector } = setup({ consecutive5xx: 5 });
    fail(detector, "i1", 4);
    detector.record("i1", "success");
    fail(detector, "i1", 4);
    detector.record("i1", 200);
    fail(detector, "i1", 4);
    expect(detector.isEjected("i1")).toBe(false);
    detector.record("i1", 500);
    expect(detector.isEjected("i1")).toBe(true);
  });

  it("counts gateway errors separately when consecutiveGatewayErrors is set: a 500 breaks that run", () => {
    const { detector, events } = setup({ consecutive5xx: 0, consecutiveGatewayErrors: 3 });
    detector.record("i2", 502);
    detector.record("i2", "connectionError");
    detector.record("i2", 500);
    detector.record("i2", 504);
    detector.record("i2", "gatewayError");
    expect(detector.isEjected("i2")).toBe(false);
    detector.record("i2", 503);
    expect(detector.isEjected("i2")).toBe(true);
    expect(events).toMatchObject([{ type: "ejected", instanceId: "i2", reason: "consecutiveGatewayErrors" }]);
    expect(detector.snapshot()).toMatchObject({
      ejectionsConsecutiveGatewayErrors: 1,
      ejectionsConsecutive5xx: 0,
    });
  });

  it("never ejects with both detectors off", () => {
    const { detector } = setup({ consecutive5xx: 0, consecutiveGatewayErrors: 0 });
    fail(detector, "i0", 100, 503);
    expect(detector.snapshot().ejectionsTotal).toBe(0);
  });

  it("rejects an unknown outcome name with a TypeError", () => {
    const { detector } = setup();
    expect(() => detector.record("i0", "teapot" as OutlierOutcome)).toThrow(TypeError);
  });
});

describe("OutlierDetector: the success path", () => {
  it("records successes without events, state changes or clock reads", () => {
    let reads = 0;
    const fake = new FakeClock();
    const clock: Clock = {
      now: () => {
        reads++;
        return fake.now();
      },
      setTimeout: (callback, ms): TimerHandle => fake.setTimeout(callback, ms),
      clearTimeout: (handle) => fake.clearTimeout(handle),
    };
    const detector = outlierDetector({ clock, consecutive5xx: 3 });
    detector.update(ids(10));
    const events: OutlierEvent[] = [];
    detector.events.subscribe((event) => events.push(event));
    const before = detector.snapshot();
    reads = 0;
    for (let i = 0; i < 10_000; i++) {
      detector.record(`i${i % 10}`, "success");
      detector.record(`i${i % 10}`, 200);
      detector.isEjected(`i${i % 10}`);
    }
    expect(reads).toBe(0);
    expect(events).toEqual([]);
    expect(detector.snapshot()).toEqual(before);
    // The run counters stayed at zero: it still takes the full threshold to eject.
    fail(detector, "i0", 2);
    expect(detector.isEjected("i0")).toBe(false);
  });
});

describe("OutlierDetector: ejection time", () => {
  it("grows with each ejection as baseEjectionTime × times ejected, capped by maxEjectionTime", async () => {
    const { clock, detector, events } = setup({
      consecutive5xx: 2,
      baseEjectionTime: "30s",
      maxEjectionTime: "100s",
    });
    const durations: number[] = [];
    for (let round = 0; round < 6; round++) {
      fail(detector, "i0", 2);
      const ejected = events.findLast((e) => e.type === "ejected");
      if (ejected?.type !== "ejected") throw new Error("expected an ejection");
      durations.push(ejected.durationMs);
      await clock.advance(ejected.durationMs);
      expect(detector.isEjected("i0")).toBe(false);
    }
    expect(durations).toEqual([30_000, 60_000, 90_000, 100_000, 100_000, 100_000]);
    expect(events.filter((e) => e.type === "ejected").map((e) => e.type === "ejected" && e.times)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
  });

  it("drops the multiplier by one for each interval the instance stays in service", async () => {
    const { clock, detector, events } = setup({
      consecutive5xx: 1,
      baseEjectionTime: "10s",
      interval: "10s",
    });
    const lastDuration = () => {
      const e = events.findLast((x) => x.type === "ejected");
      return e?.type === "ejected" ? e.durationMs : Number.NaN;
    };
    for (let i = 0; i < 4; i++) {
      detector.record("i0", 500);
      await clock.advance(lastDuration());
    }
    expect(lastDuration()).toBe(40_000); // multiplier 4
    await clock.advance(19_999); // one whole interval in service: 4 → 3
    detector.record("i0", 500);
    expect(lastDuration()).toBe(40_000); // 3 + 1
    await clock.advance(40_000 + 30_000); // three intervals: 4 → 1
    detector.record("i0", 500);
    expect(lastDuration()).toBe(20_000); // 1 + 1
    await clock.advance(20_000 + 1_000_000); // long healthy: back to 0
    detector.record("i0", 500);
    expect(lastDuration()).toBe(10_000);
  });

  it("stops growing the multiplier at the cap, so that it decays from there", async () => {
    const { clock, detector, events } = setup({
      consecutive5xx: 1,
      baseEjectionTime: "10s",
      maxEjectionTime: "30s",
      interval: "10s",
    });
    for (let i = 0; i < 6; i++) {
      detector.record("i0", 500);
      const ejected = events.at(-1);
      await clock.advance(ejected?.type === "ejected" ? ejected.durationMs : Number.NaN);
    }
    expect(events.at(-1)).toMatchObject({ multiplier: 3, durationMs: 30_000 });
    await clock.advance(20_000); // in service for two intervals: 3 → 1
    detector.record("i0", 500);
    expect(events.at(-1)).toMatchObject({ type: "ejected", times: 7, multiplier: 2, durationMs: 20_000 });
  });

  it("uses baseEjectionTime as the default cap when it is longer than 300 s", () => {
    const { detector, events } = setup({ consecutive5xx: 1, baseEjectionTime: "10m" });
    expect(detector.options.maxEjectionTime).toBe(600_000);
    detector.record("i0", 500);
    expect(events).toMatchObject([{ type: "ejected", durationMs: 600_000 }]);
  });
});

describe("OutlierDetector: return to service", () => {
  it("returns an instance when its time is up, lazily, with one returned event", async () => {
    const { clock, detector, events } = setup({ consecutive5xx: 1, baseEjectionTime: "30s" });
    detector.record("i5", 500);
    await clock.advance(29_999);
    expect(detector.isEjected("i5")).toBe(true);
    await clock.advance(1);
    expect(events.filter((e) => e.type === "returned")).toEqual([]); // nothing has looked yet
    expect(detector.isEjected("i5")).toBe(false);
    expect(detector.isEjected("i5")).toBe(false);
    expect(events.filter((e) => e.type === "returned")).toEqual([
      { type: "returned", name: "default", instanceId: "i5" },
    ]);
    expect(detector.snapshot().ejected).toEqual([]);
  });

  it("also returns instances on filter, record and snapshot", async () => {
    const { clock, detector } = setup({ consecutive5xx: 1, maxEjectionPercent: 100 });
    detector.record("i0", 500);
    detector.record("i1", 500);
    detector.record("i2", 500);
    await clock.advance(30_000);
    expect(detector.snapshot().ejected).toEqual([]);
    detector.record("i0", 500);
    detector.record("i1", 500);
    await clock.advance(60_000);
    const all = ids(10).map((id) => ({ id }));
    expect(detector.filter(all)).toBe(all);
    detector.record("i2", 500);
    await clock.advance(60_000);
    detector.record("i2", "success"); // the lazy return inside record, then the success
    expect(detector.snapshot().ejected).toEqual([]);
  });

  it("with returnTimer, returns instances on time from one unref'd timer", async () => {
    const { clock, detector, events } = setup({
      consecutive5xx: 1,
      maxEjectionPercent: 100,
      returnTimer: true,
    });
    detector.record("i0", 500); // until 30 s
    await clock.advance(10_000);
    detector.record("i1", 500); // until 40 s
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(20_000);
    expect(events.filter((e) => e.type === "returned").map((e) => e.instanceId)).toEqual(["i0"]);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(10_000);
    expect(events.filter((e) => e.type === "returned").map((e) => e.instanceId)).toEqual(["i0", "i1"]);
    expect(clock.pendingTimers).toBe(0);
    detector.record("i2", 500);
    expect(clock.pendingTimers).toBe(1);
    detector.close();
    expect(clock.pendingTimers).toBe(0);
    detector.record("i3", 500);
    expect(clock.pendingTimers).toBe(0);
  });

  it("uneject returns an instance at once", () => {
    const { detector, events } = setup({ consecutive5xx: 1 });
    detector.record("i0", 500);
    expect(detector.uneject("i0")).toBe(true);
    expect(detector.uneject("i0")).toBe(false);
    expect(detector.isEjected("i0")).toBe(false);
    expect(events.map((e) => e.type)).toEqual(["ejected", "returned"]);
  });
});

describe("OutlierDetector: only new picks", () => {
  it("ignores outcomes recorded while ejected, and starts every run afresh on return", async () => {
    const { clock, detector, events } = setup({ consecutive5xx: 3, maxEjectionPercent: 100 });
    fail(detector, "i0", 3);
    // Calls that were in flight when it was ejected complete; they neither return it nor extend it.
    detector.record("i0", "success");
    fail(detector, "i0", 10);
    expect(detector.isEjected("i0")).toBe(true);
    expect(events.filter((e) => e.type === "ejected")).toHaveLength(1);
    await clock.advance(30_000);
    fail(detector, "i0", 2);
    expect(detector.isEjected("i0")).toBe(false);
    detector.record("i0", 500);
    expect(detector.isEjected("i0")).toBe(true);
  });

  it("filter leaves ejected instances out, allocating only when the ejected set changes", async () => {
    const { clock, detector } = setup({ consecutive5xx: 1, maxEjectionPercent: 20 });
    const instances = ids(10).map((id) => ({ id, port: 8080 }));
    expect(detector.filter(instances)).toBe(instances);
    detector.record("i4", 500);
    const first = detector.filter(instances);
    expect(first.map((i) => i.id)).toEqual(ids(10).filter((id) => id !== "i4"));
    expect(detector.filter(instances)).toBe(first);
    const others = instances.filter((i) => i.id !== "i4");
    expect(detector.filter(others)).toBe(others); // nothing of this list is ejected
    await clock.advance(1);
    detector.record("i7", 500);
    expect(detector.filter(instances).map((i) => i.id)).toEqual(
      ids(10).filter((id) => id !== "i4" && id !== "i7"),
    );
    await clock.advance(29_999);
    expect(detector.filter(instances).map((i) => i.id)).toEqual(ids(10).filter((id) => id !== "i7"));
    await clock.advance(1);
    expect(detector.filter(instances)).toBe(instances);
  });
});

describe("OutlierDetector: maxEjectionPercent", () => {
  it("ejects one of 10 instances at 10 %, and the next only once the first has returned", async () => {
    const { clock, detector, events } = setup({ consecutive5xx: 2, maxEjectionPercent: 10 });
    fail(detector, "i0", 2);
    fail(detector, "i1", 2);
    expect(detector.snapshot()).toMatchObject({ ejected: ["i0"], ejectionsOverflow: 1 });
    expect(events.map((e) => e.type)).toEqual(["ejected", "ejectionSkipped"]);
    expect(events[1]).toEqual({
      type: "ejectionSkipped",
      name: "default",
      instanceId: "i1",
      reason: "consecutive5xx",
    });
    await clock.advance(30_000);
    fail(detector, "i1", 2); // the skipped run was reset, as in Envoy: a new run is needed
    expect(detector.snapshot().ejected).toEqual(["i1"]);
  });

  it("ejects two of 10 at 20 %, and three of 4 at 75 %", () => {
    const twenty = setup({ consecutive5xx: 1, maxEjectionPercent: 20 });
    for (const id of ids(10)) twenty.detector.record(id, 500);
    expect(twenty.detector.snapshot().ejected).toEqual(["i0", "i1"]);
    const most = setup({ consecutive5xx: 1, maxEjectionPercent: 75 }, 4);
    for (const id of ids(4)) most.detector.record(id, 500);
    expect(most.detector.snapshot().ejected).toEqual(["i0", "i1", "i2"]);
  });

  it("with 2 instances at 10 % ejects one by default, and neither with alwaysEjectOneInstance off", () => {
    const strict = setup({ consecutive5xx: 1, alwaysEjectOneInstance: false }, 2);
    strict.detector.record("i0", 500);
    strict.detector.record("i1", 500);
    expect(strict.detector.snapshot()).toMatchObject({ ejected: [], ejectionsOverflow: 2 });

    const one = setup({ consecutive5xx: 1, alwaysEjectOneInstance: true }, 2);
    one.detector.record("i0", 500);
    one.detector.record("i1", 500);
    expect(one.detector.snapshot()).toMatchObject({ ejected: ["i0"], ejectionsOverflow: 1 });
  });

  it("never ejects the only instance at the default limit", () => {
    const { detector } = setup({ consecutive5xx: 1 }, 1);
    detector.record("i0", 500);
    expect(detector.isEjected("i0")).toBe(false);
  });

  it("an instance whose time is up does not count against the limit", async () => {
    const { clock, detector } = setup({ consecutive5xx: 1 });
    detector.record("i0", 500);
    await clock.advance(30_000); // nothing looked at i0 since
    detector.record("i1", 500);
    expect(detector.snapshot().ejected).toEqual(["i1"]);
  });

  it("keeps the limit under any sequence of outcomes and time", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("record" as const),
        member: fc.nat(9),
        outcome: fc.constantFrom<OutlierOutcome>(200, 500, 503, "connectionError", "success"),
      }),
      fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.boolean(),
        fc.array(op, { maxLength: 200 }),
        (pct, one, ops) => {
          const clock = new FakeClock();
          const detector = outlierDetector({
            clock,
            consecutive5xx: 2,
            consecutiveGatewayErrors: 3,
            maxEjectionPercent: pct,
            alwaysEjectOneInstance: one,
            baseEjectionTime: "10s",
            maxEjectionTime: "35s",
          });
          detector.update(ids(10));
          const durations: number[] = [];
          detector.events.subscribe((e) => {
            if (e.type === "ejected") durations.push(e.durationMs);
          });
          for (const o of ops) {
            if (o.kind === "record") detector.record(`i${o.member}`, o.outcome);
            else clock.set(clock.now() + o.ms);
            const ejected = detector.snapshot().ejected.length;
            expect(ejected * 100 <= pct * 10 || (one && ejected === 1)).toBe(true);
          }
          for (const d of durations) expect(d >= 10_000 && d <= 35_000).toBe(true);
        },
      ),
    );
  });
});

describe("OutlierDetector: membership", () => {
  it("forgets instances that leave, and a returning id starts afresh", () => {
    const { detector, events } = setup({ consecutive5xx: 3 }, 10);
    fail(detector, "i0", 3);
    fail(detector, "i1", 2);
    detector.update(ids(10).filter((id) => id !== "i0" && id !== "i1"));
    expect(detector.snapshot()).toMatchObject({ members: 8, ejected: [] });
    expect(events.map((e) => e.type)).toEqual(["ejected"]); // leaving is not returning

    detector.update(ids(10));
    detector.record("i1", 500); // the run of two before it left is gone
    expect(detector.isEjected("i1")).toBe(false);
    fail(detector, "i0", 3);
    expect(events.at(-1)).toMatchObject({ type: "ejected", instanceId: "i0", times: 1, durationMs: 30_000 });
  });

  it("frees the ejection quota when an ejected instance leaves", () => {
    const { detector } = setup({ consecutive5xx: 1 }, 10);
    detector.record("i0", 500);
    detector.record("i1", 500);
    expect(detector.snapshot().ejected).toEqual(["i0"]);
    detector.update([...ids(10).slice(1), "i10"]);
    detector.record("i1", 500);
    expect(detector.snapshot().ejected).toEqual(["i1"]);
  });

  it("ignores outcomes for ids outside the membership and counts them", () => {
    const { detector, events } = setup({ consecutive5xx: 1 }, 10);
    fail(detector, "gone", 5);
    expect(detector.isEjected("gone")).toBe(false);
    expect(events).toEqual([]);
    expect(detector.snapshot()).toMatchObject({ members: 10, unknownRecords: 5, ejectionsTotal: 0 });
  });
});
