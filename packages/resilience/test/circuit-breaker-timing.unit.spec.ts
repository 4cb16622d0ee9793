import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { circuitBreaker } from "../src/breaker/circuit-breaker.js";
import { FakeClock } from "../src/testing/index.js";

const THRESHOLD = 100;

/** One call: when it starts, how long it runs, whether it rejects. */
const call = fc.record({
  startAt: fc.integer({ min: 0, max: 300 }),
  durationMs: fc.integer({ min: 0, max: 2 * THRESHOLD }),
  failed: fc.boolean(),
});

describe("slow-call timing of overlapping calls", () => {
  it("concurrent calls are each timed from their own start, however they interleave (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        // More calls in flight at once than a breaker might keep per-call state for.
        fc.array(call, { minLength: 1, maxLength: 150 }),
        fc.constantFrom("COUNT_BASED" as const, "TIME_BASED" as const),
        async (calls, slidingWindowType) => {
          const clock = new FakeClock();
          const breaker = circuitBreaker({
            clock,
            slidingWindowType,
            slidingWindowSize: 1000,
            minimumNumberOfCalls: 1000,
            slowCallDurationThreshold: THRESHOLD,
          });
          const settled: Promise<unknown>[] = [];
          for (const { startAt, durationMs, failed } of calls) {
            clock.setTimeout(() => {
              const run = breaker.execute(
                () =>
                  new Promise((resolve, reject) => {
                    clock.setTimeout(() => (failed ? reject(new Error("boom")) : resolve("ok")), durationMs);
                  }),
              );
              settled.push(run.catch(() => undefined));
            }, startAt);
          }
          await clock.advance(300 + 2 * THRESHOLD);
          await Promise.all(settled);
          const slow = calls.filter((c) => c.durationMs > THRESHOLD);
          expect(breaker.snapshot()).toMatchObject({
            bufferedCalls: calls.length,
            failedCalls: calls.filter((c) => c.failed).length,
            slowCalls: slow.length,
            slowFailedCalls: slow.filter((c) => c.failed).length,
            inFlight: 0,
          });
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a call started by an event listener while another call is being recorded is timed from its own start", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ clock, slowCallDurationThreshold: THRESHOLD });
    const durations: number[] = [];
    const after = (ms: number) => () => new Promise((resolve) => clock.setTimeout(() => resolve("ok"), ms));
    let nested: Promise<unknown> | undefined;
    breaker.events.subscribe((event) => {
      if (event.type !== "success") return;
      durations.push(event.durationMs);
      nested ??= breaker.execute(after(150));
    });
    const first = breaker.execute(after(50));
    await clock.advance(50);
    await first;
    await clock.advance(20);
    // Overlaps the nested call, so that state shared with it would show in its duration.
    const third = breaker.execute(after(10));
    await clock.advance(130);
    await Promise.all([nested, third]);
    expect(durations).toEqual([50, 10, 150]);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 3, slowCalls: 1, inFlight: 0 });
    expect(clock.pendingTimers).toBe(0);
  });
});
