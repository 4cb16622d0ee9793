import { describe, expect, it } from "vitest";
import {
  BreakerState,
  bulkhead,
  circuitBreaker,
  fallback,
  pipeline,
  retry,
  TimeoutError,
  timeout,
} from "../src/index.js";
import { FakeClock } from "../src/testing/index.js";

describe("pipeline of real policies", () => {
  it("lets one total timeout cover every retry and its back-off", async () => {
    const clock = new FakeClock();
    const policy = pipeline(
      timeout({ duration: "1s", clock }),
      retry({ maxAttempts: 10, backoff: "300ms", clock }),
    );
    const startedAt: number[] = [];
    const call = policy.execute(() => {
      startedAt.push(clock.now());
      return Promise.reject(new Error("down"));
    });
    const outcome = expect(call).rejects.toThrow("down");
    await clock.advance(2000);
    await outcome;
    // Attempts at 0, 300, 600 and 900 ms; a fifth would start past the 1 s budget, so retry gives up.
    expect(startedAt).toEqual([0, 300, 600, 900]);
  });

  it("shows the operation the remaining budget on every attempt", async () => {
    const clock = new FakeClock();
    const policy = pipeline(
      timeout({ duration: "1s", clock }),
      retry({ maxAttempts: 3, backoff: "200ms", clock }),
    );
    const remaining: number[] = [];
    const call = policy.execute((ctx) => {
      remaining.push(ctx.deadline!.remaining());
      return remaining.length < 3 ? Promise.reject(new Error("again")) : Promise.resolve("ok");
    });
    await clock.advance(1000);
    await expect(call).resolves.toBe("ok");
    expect(remaining).toEqual([1000, 800, 600]);
  });

  it("records a timed-out attempt as a breaker failure and stops retrying once the breaker opens", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ slidingWindowSize: 2, minimumNumberOfCalls: 2, clock });
    const policy = pipeline(
      retry({ maxAttempts: 5, backoff: "10ms", clock }),
      breaker,
      timeout({ duration: "100ms", strategy: "aggressive", clock }),
    );
    let calls = 0;
    const call = policy.execute(() => {
      calls++;
      return new Promise<never>(() => {});
    });
    const outcome = expect(call).rejects.toMatchObject({ code: "FLT_BREAKER_OPEN" });
    await clock.advance(1000);
    await outcome;
    expect(calls).toBe(2);
    expect(breaker.state).toBe(BreakerState.OPEN);
    expect(breaker.snapshot().failedCalls).toBe(2);
  });

  it("answers from the outermost fallback when the breaker is open", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ clock });
    breaker.transitionToForcedOpenState();
    const policy = pipeline(fallback({ value: "cached answer" }), retry({ maxAttempts: 3, clock }), breaker);
    await expect(policy.execute(() => "live answer")).resolves.toBe("cached answer");
  });

  it("holds a bulkhead slot only while the dependency is called, not during back-off", async () => {
    const clock = new FakeClock();
    const slots = bulkhead({ maxConcurrent: 1, clock });
    const policy = pipeline(retry({ maxAttempts: 2, backoff: "1s", clock }), slots);
    let failFirst = true;
    const first = policy.execute(() => {
      if (failFirst) {
        failFirst = false;
        return Promise.reject(new Error("once"));
      }
      return Promise.resolve("first");
    });
    await clock.flush();
    expect(slots.snapshot().inFlight).toBe(0);
    await expect(slots.execute(() => "meanwhile")).resolves.toBe("meanwhile");
    await clock.advance(1000);
    await expect(first).resolves.toBe("first");
  });

  it("turns an attempt that outlives its own timeout into a TimeoutError the retry sees", async () => {
    const clock = new FakeClock();
    const seen: unknown[] = [];
    const r = retry({
      maxAttempts: 2,
      backoff: 0,
      clock,
      retryOn: (error) => {
        seen.push(error);
        return true;
      },
    });
    const policy = pipeline(r, timeout({ duration: "50ms", strategy: "aggressive", clock }));
    const call = policy.execute(() => new Promise<never>(() => {}));
    const outcome = expect(call).rejects.toBeInstanceOf(TimeoutError);
    await clock.advance(200);
    await outcome;
    expect(seen[0]).toBeInstanceOf(TimeoutError);
  });
});
