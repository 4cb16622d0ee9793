import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CallOutcome, callOutcome } from "../src/breaker/call-outcome.js";
import { CountWindow } from "../src/breaker/count-window.js";
import { TimeWindow } from "../src/breaker/time-window.js";

interface Totals {
  calls: number;
  failed: number;
  slow: number;
  slowFailed: number;
}

/** The naive model: add up every outcome still in the window, from scratch. */
function sum(outcomes: readonly number[]): Totals {
  const t: Totals = { calls: 0, failed: 0, slow: 0, slowFailed: 0 };
  for (const o of outcomes) {
    t.calls++;
    if (o & 1) t.failed++;
    if (o & 2) t.slow++;
    if (o === 3) t.slowFailed++;
  }
  return t;
}

function totals(w: CountWindow | TimeWindow): Totals {
  return { calls: w.calls, failed: w.failed, slow: w.slow, slowFailed: w.slowFailed };
}

const outcome = fc.constantFrom<CallOutcome>(0, 1, 2, 3);

describe("call outcomes", () => {
  it("pack failed into bit 0 and slow into bit 1", () => {
    expect([
      callOutcome(false, false),
      callOutcome(true, false),
      callOutcome(false, true),
      callOutcome(true, true),
    ]).toEqual([0, 1, 2, 3]);
  });
});

describe("CountWindow", () => {
  it("keeps running totals equal to the sum of the last N outcomes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(outcome, { maxLength: 60 }), (size, outcomes) => {
        const w = new CountWindow(size);
        const seen: number[] = [];
        for (const o of outcomes) {
          w.record(o);
          seen.push(o);
          expect(totals(w)).toEqual(sum(seen.slice(-size)));
        }
      }),
    );
  });

  it("serialises its outcomes oldest first and loads them back", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(outcome, { maxLength: 40 }),
        (size, otherSize, outcomes) => {
          const w = new CountWindow(size);
          for (const o of outcomes) w.record(o);
          const json = w.toJSON();
          expect(json.outcomes).toEqual(outcomes.slice(-size));
          const copy = new CountWindow(otherSize);
          copy.load(json.outcomes);
          expect(totals(copy)).toEqual(sum(outcomes.slice(-Math.min(size, otherSize))));
        },
      ),
    );
  });

  it("reset empties the window and the ring is reused", () => {
    const w = new CountWindow(3);
    for (const o of [1, 3, 2, 0] as CallOutcome[]) w.record(o);
    w.reset();
    expect(totals(w)).toEqual({ calls: 0, failed: 0, slow: 0, slowFailed: 0 });
    w.record(1);
    expect(w.toJSON().outcomes).toEqual([1]);
  });
});

/** A step of the time-window model: move the clock on by `dt` ms, then maybe record. */
const step = fc.record({
  dt: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 30_000 })),
  outcome: fc.option(outcome, { nil: undefined }),
});

describe("TimeWindow", () => {
  it("keeps running totals equal to the outcomes of the last N epoch seconds, across gaps", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(step, { maxLength: 80 }),
        (size, start, steps) => {
          const w = new TimeWindow(size);
          const events: { second: number; outcome: number }[] = [];
          let now = start;
          for (const { dt, outcome: o } of steps) {
            now += dt;
            const second = Math.floor(now / 1000);
            if (o === undefined) w.moveTo(now);
            else {
              w.record(o, now);
              events.push({ second, outcome: o });
            }
            const live = events.filter((e) => e.second > second - size).map((e) => e.outcome);
            expect(totals(w)).toEqual(sum(live));
          }
        },
      ),
    );
  });

  it("counts a reading earlier than its newest second in the newest bucket", () => {
    const w = new TimeWindow(3);
    w.record(1, 5_000);
    w.record(0, 4_200);
    expect(totals(w)).toEqual({ calls: 2, failed: 1, slow: 0, slowFailed: 0 });
    w.moveTo(7_999);
    expect(w.calls).toBe(2);
    w.moveTo(8_000);
    expect(w.calls).toBe(0);
  });

  it("serialises its buckets oldest first and loads them back onto a later time line", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(step, { maxLength: 40 }),
        fc.integer({ min: 0, max: 1e9 }),
        (size, otherSize, steps, later) => {
          const w = new TimeWindow(size);
          let now = 0;
          for (const { dt, outcome: o } of steps) {
            now += dt;
            if (o !== undefined) w.record(o, now);
          }
          const json = w.toJSON(now);
          expect(json.buckets).toHaveLength(size);
          const copy = new TimeWindow(otherSize);
          copy.load(json.buckets, later);
          const kept = json.buckets.slice(-Math.min(size, otherSize));
          const expected = kept.reduce(
            (t, [c, f, s, sf]) => ({
              calls: t.calls + c,
              failed: t.failed + f,
              slow: t.slow + s,
              slowFailed: t.slowFailed + sf,
            }),
            { calls: 0, failed: 0, slow: 0, slowFailed: 0 },
          );
          expect(totals(copy)).toEqual(expected);
          // The loaded buckets age out on the new time line exactly as they would have on the old one.
          copy.moveTo(later + otherSize * 1000);
          expect(copy.calls).toBe(0);
        },
      ),
    );
  });
});
