import { describe, expect, it } from "vitest";
import type { BreakerEvent } from "../src/breaker/breaker-event.js";
import { BreakerState } from "../src/breaker/breaker-state.js";
import { CircuitBreaker, circuitBreaker } from "../src/breaker/circuit-breaker.js";
import {
  type CircuitBreakerOptions,
  circuitBreakerDefaults,
  parseCircuitBreakerOptions,
} from "../src/breaker/circuit-breaker-options.js";
import type { Clock, TimerHandle } from "../src/clock.js";
import { ConfigReader } from "../src/config/config-reader.js";
import { BreakerOpenError, ConfigError, IllegalStateTransitionError } from "../src/errors.js";
import { FakeClock } from "../src/testing/index.js";
import { deferred } from "./support/deferred.js";

const { CLOSED, OPEN, HALF_OPEN, DISABLED, FORCED_OPEN, METRICS_ONLY } = BreakerState;

function make(clock: Clock, options: CircuitBreakerOptions = {}): CircuitBreaker {
  return circuitBreaker({ name: "test", clock, ...options });
}

/** Runs one failing call and waits for it to settle. */
function fail(breaker: CircuitBreaker, error: unknown = new Error("boom")): Promise<unknown> {
  return breaker.execute(() => Promise.reject(error)).catch((e: unknown) => e);
}

function succeed(breaker: CircuitBreaker): Promise<unknown> {
  return breaker.execute(() => Promise.resolve("ok"));
}

/** A call that takes `ms` on the fake clock; resolves to "ok"/"failed" so no rejection goes unhandled. */
async function timed(breaker: CircuitBreaker, clock: FakeClock, ms: number, failed = false): Promise<string> {
  const settled = breaker
    .execute(
      () =>
        new Promise((resolve, reject) => {
          clock.setTimeout(() => (failed ? reject(new Error("slow boom")) : resolve("slow")), ms);
        }),
    )
    .then(
      () => "ok",
      () => "failed",
    );
  await clock.advance(ms);
  return settled;
}

function record(breaker: CircuitBreaker): BreakerEvent[] {
  const events: BreakerEvent[] = [];
  breaker.events.subscribe((e) => events.push(e));
  return events;
}

/** A clock that counts `now()` reads and remembers how each timer was scheduled. */
function instrumented(inner: FakeClock): Clock & { reads: number; unrefs: (boolean | undefined)[] } {
  const clock = {
    reads: 0,
    unrefs: [] as (boolean | undefined)[],
    now() {
      clock.reads++;
      return inner.now();
    },
    setTimeout(callback: () => void, ms: number, unref?: boolean): TimerHandle {
      clock.unrefs.push(unref);
      return inner.setTimeout(callback, ms);
    },
    clearTimeout(handle: TimerHandle) {
      inner.clearTimeout(handle);
    },
  };
  return clock;
}

/** Opens a small count-based breaker (window 2, threshold 50 %) with two failures. */
async function opened(clock: FakeClock, options: CircuitBreakerOptions = {}): Promise<CircuitBreaker> {
  const breaker = make(clock, { slidingWindowSize: 2, waitDurationInOpenState: 1000, ...options });
  await fail(breaker);
  await fail(breaker);
  expect(breaker.state).toBe(OPEN);
  return breaker;
}

describe("options", () => {
  it("defaults are Resilience4j's", () => {
    const o = circuitBreaker().options;
    expect(o).toMatchObject({
      name: "default",
      slidingWindowType: "COUNT_BASED",
      slidingWindowSize: 100,
      minimumNumberOfCalls: 100,
      failureRateThreshold: 50,
      slowCallRateThreshold: 100,
      slowCallDurationThreshold: 60_000,
      permittedNumberOfCallsInHalfOpenState: 10,
      maxWaitDurationInHalfOpenState: 0,
      waitDurationInOpenState: 60_000,
      automaticTransitionFromOpenToHalfOpenEnabled: false,
    });
    expect(o).toMatchObject(circuitBreakerDefaults);
  });

  it("accept durations as strings and Infinity as the slow-call threshold", () => {
    const o = circuitBreaker({ waitDurationInOpenState: "5s", slowCallDurationThreshold: Infinity }).options;
    expect(o.waitDurationInOpenState).toBe(5000);
    expect(o.slowCallDurationThreshold).toBe(Number.POSITIVE_INFINITY);
  });

  it("invalid options throw a ConfigError listing every path", () => {
    let error: unknown;
    try {
      circuitBreaker({
        failureRateThreshold: 120,
        slidingWindowSize: 0,
        waitDurationInOpenState: "soon",
        bogus: 1,
      } as CircuitBreakerOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
      "bogus",
      "failureRateThreshold",
      "slidingWindowSize",
      "waitDurationInOpenState",
    ]);
    expect((error as ConfigError).message).toContain("failureRateThreshold: must be at most 100, got 120");
  });

  it("setting both waitDurationInOpenState and waitIntervalFunctionInOpenState is a config error", () => {
    expect(() =>
      circuitBreaker({ waitDurationInOpenState: 1000, waitIntervalFunctionInOpenState: () => 5 }),
    ).toThrow(/waitIntervalFunctionInOpenState: cannot be combined with waitDurationInOpenState/);
  });

  it("parseCircuitBreakerOptions reports exact paths under a registry prefix", () => {
    const reader = new ConfigReader();
    parseCircuitBreakerOptions(
      { slowCallRateThreshold: 0, permittedNumberOfCallsInHalfOpenState: 1.5 },
      reader,
      "instances.payments",
    );
    expect(reader.issues.map((i) => i.path)).toEqual([
      "instances.payments.slowCallRateThreshold",
      "instances.payments.permittedNumberOfCallsInHalfOpenState",
    ]);
  });
});

describe("sliding window and thresholds", () => {
  it("below minimumNumberOfCalls there is no transition", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10, minimumNumberOfCalls: 5 });
    for (let i = 0; i < 4; i++) await fail(breaker);
    expect(breaker.state).toBe(CLOSED);
    expect(breaker.snapshot()).toMatchObject({
      failureRate: -1,
      slowCallRate: -1,
      bufferedCalls: 4,
      failedCalls: 4,
    });
    await fail(breaker);
    expect(breaker.state).toBe(OPEN);
  });

  it("minimumNumberOfCalls is clamped to the window size for COUNT_BASED", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 3 });
    for (let i = 0; i < 3; i++) await fail(breaker);
    expect(breaker.state).toBe(OPEN);
  });

  it("minimumNumberOfCalls is not clamped for TIME_BASED", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowType: "TIME_BASED",
      slidingWindowSize: 3,
      minimumNumberOfCalls: 5,
    });
    for (let i = 0; i < 4; i++) await fail(breaker);
    expect(breaker.state).toBe(CLOSED);
    await fail(breaker);
    expect(breaker.state).toBe(OPEN);
  });

  it("the failure rate trips at >= the threshold, not above it only", async () => {
    const clock = new FakeClock();
    const below = make(clock, { slidingWindowSize: 4, failureRateThreshold: 50 });
    await fail(below);
    for (let i = 0; i < 3; i++) await succeed(below);
    expect(below.state).toBe(CLOSED);
    expect(below.snapshot().failureRate).toBe(25);

    const at = make(clock, { slidingWindowSize: 4, failureRateThreshold: 50 });
    await succeed(at);
    await succeed(at);
    await fail(at);
    expect(at.state).toBe(CLOSED);
    await fail(at);
    expect(at.state).toBe(OPEN);
  });

  it("the COUNT_BASED window holds only the last N outcomes", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 4, failureRateThreshold: 75 });
    await fail(breaker);
    await fail(breaker);
    await succeed(breaker);
    await succeed(breaker); // 2 of 4 failed
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 4, failedCalls: 2, failureRate: 50 });
    await succeed(breaker); // the first failure leaves: 1 of 4
    await succeed(breaker); // the second one too
    expect(breaker.state).toBe(CLOSED);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 4, failedCalls: 0, failureRate: 0 });
  });

  it("the TIME_BASED window forgets the seconds that a gap in time skipped", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowType: "TIME_BASED",
      slidingWindowSize: 2,
      minimumNumberOfCalls: 2,
    });
    await fail(breaker);
    await clock.advance(2000);
    expect(breaker.snapshot().bufferedCalls).toBe(0);
    await fail(breaker);
    expect(breaker.state).toBe(CLOSED);
    await clock.advance(999);
    await fail(breaker);
    expect(breaker.state).toBe(OPEN);
  });

  it("a call is slow only when strictly longer than slowCallDurationThreshold", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10, slowCallDurationThreshold: 100 });
    expect(await timed(breaker, clock, 100)).toBe("ok");
    expect(breaker.snapshot().slowCalls).toBe(0);
    await timed(breaker, clock, 101);
    expect(breaker.snapshot().slowCalls).toBe(1);
  });

  it("a slow success counts toward the slow rate and a slow failure toward both rates", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10, slowCallDurationThreshold: "100ms" });
    await timed(breaker, clock, 150);
    await timed(breaker, clock, 150, true);
    await timed(breaker, clock, 10, true);
    await timed(breaker, clock, 10);
    expect(breaker.snapshot()).toMatchObject({
      bufferedCalls: 4,
      slowCalls: 2,
      slowSuccessfulCalls: 1,
      slowFailedCalls: 1,
      failedCalls: 2,
      successfulCalls: 2,
    });
  });

  it("the slow-call rate trips at >= slowCallRateThreshold and reports slowCallRateExceeded", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowSize: 4,
      slowCallDurationThreshold: 100,
      slowCallRateThreshold: 50,
    });
    const events = record(breaker);
    await timed(breaker, clock, 10);
    await timed(breaker, clock, 10);
    await timed(breaker, clock, 500);
    expect(breaker.state).toBe(CLOSED);
    await timed(breaker, clock, 500);
    expect(breaker.state).toBe(OPEN);
    expect(events.filter((e) => e.type === "slowCallRateExceeded")).toEqual([
      { type: "slowCallRateExceeded", name: "test", slowCallRate: 50 },
    ]);
    expect(events.some((e) => e.type === "failureRateExceeded")).toBe(false);
  });
});

describe("open state", () => {
  it("rejects with BreakerOpenError whose retryAfterMs is the time until the next attempt", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock);
    await clock.advance(300);
    let ran = false;
    const error = await breaker
      .execute(() => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error).toMatchObject({ breaker: "test", state: "OPEN", retryAfterMs: 700 });
    expect(breaker.snapshot().notPermittedCalls).toBe(1);
  });

  it("OPEN becomes HALF_OPEN lazily on the next call once the wait has elapsed", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock);
    const events = record(breaker);
    await clock.advance(1000);
    expect(breaker.state).toBe(OPEN);
    expect(clock.pendingTimers).toBe(0);
    await succeed(breaker);
    expect(breaker.state).toBe(HALF_OPEN);
    expect(events[0]).toEqual({ type: "stateTransition", name: "test", from: OPEN, to: HALF_OPEN });
  });

  it("automaticTransitionFromOpenToHalfOpenEnabled uses one unref'd clock timer scheduled when the breaker opens", async () => {
    const fake = new FakeClock();
    const clock = instrumented(fake);
    const breaker = make(clock, {
      slidingWindowSize: 2,
      waitDurationInOpenState: 1000,
      automaticTransitionFromOpenToHalfOpenEnabled: true,
    });
    expect(fake.pendingTimers).toBe(0);
    await fail(breaker);
    await fail(breaker);
    expect(fake.pendingTimers).toBe(1);
    expect(clock.unrefs).toEqual([true]);
    await fake.advance(999);
    expect(breaker.state).toBe(OPEN);
    await fake.advance(1);
    expect(breaker.state).toBe(HALF_OPEN);
    expect(fake.pendingTimers).toBe(0);
  });

  it("a manual transition clears the automatic transition timer", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, { automaticTransitionFromOpenToHalfOpenEnabled: true });
    expect(clock.pendingTimers).toBe(1);
    breaker.transitionToClosedState();
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(5000);
    expect(breaker.state).toBe(CLOSED);
  });

  it("waitIntervalFunctionInOpenState gets the consecutive open attempt, which resets when the breaker closes", async () => {
    const clock = new FakeClock();
    const attempts: number[] = [];
    const breaker = make(clock, {
      slidingWindowSize: 2,
      permittedNumberOfCallsInHalfOpenState: 1,
      waitIntervalFunctionInOpenState: (attempt) => {
        attempts.push(attempt);
        return attempt * 1000;
      },
    });
    await fail(breaker);
    await fail(breaker); // open #1, waits 1 s
    await clock.advance(1000);
    await fail(breaker); // the probe fails: open #2, waits 2 s
    expect(breaker.state).toBe(OPEN);
    await clock.advance(1999);
    expect(await fail(breaker)).toMatchObject({ retryAfterMs: 1 });
    await clock.advance(1);
    await succeed(breaker); // the probe succeeds: closed
    expect(breaker.state).toBe(CLOSED);
    await fail(breaker);
    await fail(breaker); // open #1 again
    expect(attempts).toEqual([1, 2, 1]);
  });
});

describe("half-open state", () => {
  it("permits exactly permittedNumberOfCallsInHalfOpenState probes and rejects the rest with state HALF_OPEN", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, { permittedNumberOfCallsInHalfOpenState: 3 });
    await clock.advance(1000);
    const probes = [deferred(), deferred(), deferred()];
    const running = probes.map((d) => breaker.execute(() => d.promise));
    const rejected = await breaker.execute(() => "extra").catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BreakerOpenError);
    expect(rejected).toMatchObject({ state: "HALF_OPEN", retryAfterMs: undefined });
    expect(breaker.snapshot()).toMatchObject({ state: HALF_OPEN, inFlight: 3, notPermittedCalls: 1 });
    for (const d of probes) d.resolve("ok");
    await Promise.all(running);
  });

  it("probes are evaluated as a fresh window once all have completed: below the threshold it closes", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, { permittedNumberOfCallsInHalfOpenState: 4 });
    await clock.advance(1000);
    await fail(breaker);
    await succeed(breaker);
    await succeed(breaker);
    expect(breaker.state).toBe(HALF_OPEN);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 3, failedCalls: 1, failureRate: -1 });
    await succeed(breaker);
    expect(breaker.state).toBe(CLOSED);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 0, failedCalls: 0 });
  });

  it("probes are evaluated as a fresh window once all have completed: at the threshold it opens again", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, { permittedNumberOfCallsInHalfOpenState: 4 });
    await clock.advance(1000);
    await fail(breaker);
    await fail(breaker);
    await succeed(breaker);
    expect(breaker.state).toBe(HALF_OPEN);
    await succeed(breaker);
    expect(breaker.state).toBe(OPEN);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 4, failedCalls: 2, failureRate: 50 });
  });

  it("maxWaitDurationInHalfOpenState > 0 opens the breaker if it is still half-open after that time", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, {
      permittedNumberOfCallsInHalfOpenState: 2,
      maxWaitDurationInHalfOpenState: 500,
    });
    await clock.advance(1000);
    const stuck = deferred();
    const probe = breaker.execute(() => stuck.promise);
    expect(breaker.state).toBe(HALF_OPEN);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(499);
    expect(breaker.state).toBe(HALF_OPEN);
    await clock.advance(1);
    expect(breaker.state).toBe(OPEN);
    expect(clock.pendingTimers).toBe(0);
    stuck.resolve("late");
    await probe;
    expect(breaker.state).toBe(OPEN);
  });

  it("maxWaitDurationInHalfOpenState 0 stays half-open until the probes finish", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, {
      permittedNumberOfCallsInHalfOpenState: 1,
      slowCallDurationThreshold: Infinity,
    });
    await clock.advance(1000);
    const slow = deferred();
    const probe = breaker.execute(() => slow.promise);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(3_600_000);
    expect(breaker.state).toBe(HALF_OPEN);
    slow.resolve("done");
    await probe;
    expect(breaker.state).toBe(CLOSED);
  });
});

describe("error classification", () => {
  it("every error is a failure by default", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10 });
    await fail(breaker, "a string");
    await fail(breaker, undefined);
    await fail(breaker, new TypeError("t"));
    expect(breaker.snapshot().failedCalls).toBe(3);
  });

  it("ignoreExceptions is checked first: an ignored error counts as nothing", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowSize: 10,
      ignoreExceptions: (e) => e instanceof TypeError,
      recordExceptions: () => true,
    });
    const events = record(breaker);
    const error = new TypeError("bad input");
    expect(await fail(breaker, error)).toBe(error);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 0, inFlight: 0 });
    expect(events).toEqual([{ type: "ignoredError", name: "test", error, durationMs: 0 }]);
  });

  it("an ignored error in HALF_OPEN returns its probe slot", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, {
      permittedNumberOfCallsInHalfOpenState: 1,
      ignoreExceptions: (e) => e instanceof TypeError,
    });
    await clock.advance(1000);
    await fail(breaker, new TypeError("ignored"));
    expect(breaker.state).toBe(HALF_OPEN);
    await succeed(breaker);
    expect(breaker.state).toBe(CLOSED);
  });

  it("an error that recordExceptions rejects counts as a success", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowSize: 10,
      recordExceptions: (e) => !(e instanceof RangeError),
    });
    const events = record(breaker);
    await fail(breaker, new RangeError("not the dependency's fault"));
    await fail(breaker, new Error("down"));
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 2, failedCalls: 1, successfulCalls: 1 });
    expect(events.map((e) => e.type)).toEqual(["success", "error"]);
  });

  it("recordResult can count a returned value as a failure, and the value is still returned", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowSize: 2,
      recordResult: (r) => (r as { status: number }).status >= 500,
    });
    const events = record(breaker);
    const response = { status: 503 };
    expect(await breaker.execute(() => Promise.resolve(response))).toBe(response);
    expect(await breaker.execute(() => ({ status: 502 }))).toEqual({ status: 502 });
    expect(breaker.state).toBe(OPEN);
    expect(events[0]).toEqual({
      type: "error",
      name: "test",
      error: response,
      durationMs: 0,
      fromResult: true,
    });
  });

  it("an abort caused by the caller's own signal is never a failure and releases the permit", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, { permittedNumberOfCallsInHalfOpenState: 1 });
    await clock.advance(1000);
    const controller = new AbortController();
    const probe = breaker.execute(
      ({ signal }) =>
        new Promise((_, reject) =>
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true }),
        ),
      { signal: controller.signal },
    );
    controller.abort(new Error("caller gave up"));
    await expect(probe).rejects.toThrow("caller gave up");
    expect(breaker.snapshot()).toMatchObject({ state: HALF_OPEN, bufferedCalls: 0, inFlight: 0 });
    await succeed(breaker);
    expect(breaker.state).toBe(CLOSED);
  });

  it("an already-aborted signal rejects with its reason without calling the operation", async () => {
    const clock = new FakeClock();
    const breaker = make(clock);
    const reason = new Error("already gone");
    let ran = false;
    await expect(
      breaker.execute(
        () => {
          ran = true;
        },
        { signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
    expect(ran).toBe(false);
    expect(breaker.snapshot().inFlight).toBe(0);
  });

  it("a synchronous throw and a non-promise return are recorded like settled promises", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10 });
    const thrown = new Error("sync");
    await expect(
      breaker.execute(() => {
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    await expect(breaker.execute(() => 7)).resolves.toBe(7);
    // biome-ignore lint/suspicious/noThenProperty: a foreign thenable is what this test hands over
    const thenable = { then: (ok: (v: number) => void) => ok(8) };
    await expect(breaker.execute(() => thenable as PromiseLike<number>)).resolves.toBe(8);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 3, failedCalls: 1, inFlight: 0 });
  });

  it("a predicate that throws is reported as a warning and the call still settles", async () => {
    const clock = new FakeClock();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const breaker = make(clock, {
        slidingWindowSize: 10,
        recordExceptions: () => {
          throw new Error("predicate bug");
        },
      });
      await fail(breaker);
      expect(breaker.snapshot()).toMatchObject({ failedCalls: 1, inFlight: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((w) => w.includes("recordExceptions threw: predicate bug"))).toBe(true);
    } finally {
      process.off("warning", onWarning);
    }
  });
});

describe("state generations", () => {
  it("results of calls that began before a state transition are not recorded in the new window", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 2 });
    const a = deferred();
    const b = deferred();
    const running = [breaker.execute(() => a.promise), breaker.execute(() => b.promise)].map((p) =>
      p.catch(() => undefined),
    );
    breaker.transitionToOpenState();
    breaker.transitionToClosedState();
    a.reject(new Error("late"));
    b.reject(new Error("late"));
    await Promise.all(running);
    expect(breaker.state).toBe(CLOSED);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 0, inFlight: 0 });
  });

  it("a probe that began in an earlier half-open round does not count in the next round", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, {
      permittedNumberOfCallsInHalfOpenState: 1,
      maxWaitDurationInHalfOpenState: 100,
    });
    await clock.advance(1000);
    const old = deferred();
    const oldProbe = breaker.execute(() => old.promise);
    await clock.advance(100); // the round times out: OPEN again
    expect(breaker.state).toBe(OPEN);
    await clock.advance(1000);
    const fresh = deferred();
    const freshProbe = breaker.execute(() => fresh.promise);
    expect(breaker.state).toBe(HALF_OPEN);
    old.resolve("late");
    await oldProbe;
    expect(breaker.state).toBe(HALF_OPEN);
    fresh.resolve("now");
    await freshProbe;
    expect(breaker.state).toBe(CLOSED);
  });
});

describe("manual states and transitions", () => {
  it("DISABLED permits every call and records nothing", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 2 });
    breaker.transitionToDisabledState();
    const events = record(breaker);
    for (let i = 0; i < 5; i++) await fail(breaker);
    expect(breaker.state).toBe(DISABLED);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 0, failureRate: -1, inFlight: 0 });
    expect(events).toEqual([]);
  });

  it("FORCED_OPEN always rejects and counts the rejections", async () => {
    const clock = new FakeClock();
    const breaker = make(clock);
    breaker.transitionToForcedOpenState();
    await clock.advance(10 * 60_000);
    const error = await succeed(breaker).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error).toMatchObject({ state: "FORCED_OPEN", retryAfterMs: undefined });
    expect(breaker.tryAcquirePermission()).toBeUndefined();
    expect(breaker.snapshot()).toMatchObject({ state: FORCED_OPEN, notPermittedCalls: 2 });
  });

  it("METRICS_ONLY records metrics and emits events but never transitions", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 2 });
    breaker.transitionToMetricsOnlyState();
    const events = record(breaker);
    for (let i = 0; i < 4; i++) await fail(breaker);
    expect(breaker.state).toBe(METRICS_ONLY);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 2, failedCalls: 2, failureRate: 100 });
    expect(events.filter((e) => e.type === "error")).toHaveLength(4);
    expect(events.filter((e) => e.type === "failureRateExceeded")).toEqual([
      { type: "failureRateExceeded", name: "test", failureRate: 100 },
    ]);
  });

  it("manual transitions emit stateTransition and start from an empty window", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10 });
    await fail(breaker);
    const events = record(breaker);
    breaker.transitionToOpenState();
    breaker.transitionToHalfOpenState();
    breaker.transitionToClosedState();
    breaker.transitionToMetricsOnlyState();
    breaker.transitionToDisabledState();
    breaker.transitionToForcedOpenState();
    expect(events.map((e) => (e.type === "stateTransition" ? `${e.from}>${e.to}` : e.type))).toEqual([
      "CLOSED>OPEN",
      "OPEN>HALF_OPEN",
      "HALF_OPEN>CLOSED",
      "CLOSED>METRICS_ONLY",
      "METRICS_ONLY>DISABLED",
      "DISABLED>FORCED_OPEN",
    ]);
    breaker.transitionToClosedState();
    expect(breaker.snapshot().bufferedCalls).toBe(0);
  });

  it("a transition to the current state has no effect", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10 });
    await fail(breaker);
    const events = record(breaker);
    breaker.transitionToClosedState();
    expect(events).toEqual([]);
    expect(breaker.snapshot().bufferedCalls).toBe(1);
  });

  it("transitions Resilience4j forbids throw IllegalStateTransitionError", () => {
    const breaker = make(new FakeClock());
    expect(() => breaker.transitionToHalfOpenState()).toThrow(IllegalStateTransitionError);
    breaker.transitionToMetricsOnlyState();
    expect(() => breaker.transitionToOpenState()).toThrow(/cannot go from METRICS_ONLY to OPEN/);
    expect(() => breaker.transitionToHalfOpenState()).toThrow(IllegalStateTransitionError);
    expect(breaker.state).toBe(METRICS_ONLY);
  });

  it("reset() returns to CLOSED with empty metrics, emitting stateTransition and reset", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock, { automaticTransitionFromOpenToHalfOpenEnabled: true });
    const events = record(breaker);
    breaker.reset();
    expect(breaker.state).toBe(CLOSED);
    expect(clock.pendingTimers).toBe(0);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 0, notPermittedCalls: 0 });
    expect(events).toEqual([
      { type: "stateTransition", name: "test", from: OPEN, to: CLOSED },
      { type: "reset", name: "test" },
    ]);
  });
});

describe("manual permit API", () => {
  it("tryAcquirePermission, onSuccess, onError and releasePermission drive the same state machine as execute", () => {
    const clock = new FakeClock();
    const breaker = make(clock, {
      slidingWindowSize: 2,
      slowCallDurationThreshold: 100,
      permittedNumberOfCallsInHalfOpenState: 1,
      waitDurationInOpenState: 1000,
    });
    const first = breaker.tryAcquirePermission()!;
    const second = breaker.tryAcquirePermission()!;
    expect(breaker.snapshot().inFlight).toBe(2);
    breaker.onSuccess(250, first);
    expect(breaker.snapshot()).toMatchObject({ slowCalls: 1, failedCalls: 0 });
    breaker.onError(5, new Error("x"), second);
    expect(breaker.state).toBe(OPEN);
    expect(breaker.tryAcquirePermission()).toBeUndefined();
    clock.set(1000);
    const probe = breaker.tryAcquirePermission()!;
    expect(breaker.state).toBe(HALF_OPEN);
    expect(breaker.tryAcquirePermission()).toBeUndefined();
    breaker.releasePermission(probe);
    const again = breaker.tryAcquirePermission()!;
    breaker.onResult(1, "fine", again);
    expect(breaker.state).toBe(CLOSED);
    expect(breaker.snapshot().inFlight).toBe(0);
  });

  it("acquirePermission throws BreakerOpenError when the call is not permitted", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock);
    expect(() => breaker.acquirePermission()).toThrow(BreakerOpenError);
  });

  it("a permit from before a transition is not recorded", () => {
    const breaker = make(new FakeClock(), { slidingWindowSize: 1 });
    const permit = breaker.acquirePermission();
    breaker.transitionToForcedOpenState();
    breaker.transitionToClosedState();
    breaker.onError(1, new Error("late"), permit);
    expect(breaker.state).toBe(CLOSED);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 0, inFlight: 0 });
  });
});

describe("events and snapshot", () => {
  it("success and error events carry the measured duration when a listener is subscribed", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10, slowCallDurationThreshold: Infinity });
    const events = record(breaker);
    await timed(breaker, clock, 40);
    await timed(breaker, clock, 60, true);
    expect(events).toEqual([
      { type: "success", name: "test", durationMs: 40 },
      { type: "error", name: "test", error: expect.any(Error), durationMs: 60, fromResult: false },
    ]);
  });

  it("notPermitted events name the refusing state", async () => {
    const clock = new FakeClock();
    const breaker = await opened(clock);
    const events = record(breaker);
    await succeed(breaker).catch(() => undefined);
    expect(events).toEqual([{ type: "notPermitted", name: "test", state: OPEN }]);
  });

  it("snapshot reports rates of -1 below the minimum number of calls, like Resilience4j", async () => {
    const clock = new FakeClock();
    const breaker = make(clock, { slidingWindowSize: 10, minimumNumberOfCalls: 3 });
    expect(breaker.snapshot()).toEqual({
      state: CLOSED,
      failureRate: -1,
      slowCallRate: -1,
      bufferedCalls: 0,
      failedCalls: 0,
      slowCalls: 0,
      slowFailedCalls: 0,
      slowSuccessfulCalls: 0,
      successfulCalls: 0,
      notPermittedCalls: 0,
      inFlight: 0,
    });
    await fail(breaker);
    await succeed(breaker);
    await succeed(breaker);
    expect(breaker.snapshot()).toMatchObject({ failureRate: 100 / 3, slowCallRate: 0, successfulCalls: 2 });
  });
});

describe("clock reads on the hot path", () => {
  it("reads no clock when slowCallDurationThreshold is Infinity and the window is COUNT_BASED", async () => {
    const clock = instrumented(new FakeClock());
    const breaker = make(clock, { slowCallDurationThreshold: Infinity });
    for (let i = 0; i < 10; i++) await succeed(breaker);
    await fail(breaker);
    expect(clock.reads).toBe(0);
  });

  it("reads the clock once per call for a TIME_BASED window without slow-call detection", async () => {
    const clock = instrumented(new FakeClock());
    const breaker = make(clock, { slowCallDurationThreshold: Infinity, slidingWindowType: "TIME_BASED" });
    for (let i = 0; i < 10; i++) await succeed(breaker);
    expect(clock.reads).toBe(10);
  });

  it("reads the clock twice per call when slow calls are detected", async () => {
    const clock = instrumented(new FakeClock());
    const breaker = make(clock, { slidingWindowType: "TIME_BASED" });
    for (let i = 0; i < 10; i++) await succeed(breaker);
    expect(clock.reads).toBe(20);
  });
});

describe("toJSON and restore", () => {
  it("toJSON is plain serialisable data", async () => {
    const clock = new FakeClock(5000);
    const breaker = await opened(clock);
    const json = breaker.toJSON();
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json).toMatchObject({
      version: 1,
      state: OPEN,
      openAttempts: 1,
      openedAt: 5000,
      waitMs: 1000,
      window: { type: "COUNT_BASED", size: 2, outcomes: [1, 1] },
    });
  });

  it("an OPEN breaker round-trips with its remaining wait, window and open attempt count", async () => {
    const clock = new FakeClock();
    const options: CircuitBreakerOptions = {
      name: "test",
      clock,
      slidingWindowSize: 2,
      permittedNumberOfCallsInHalfOpenState: 1,
      waitIntervalFunctionInOpenState: (n) => n * 1000,
    };
    const original = circuitBreaker(options);
    await fail(original);
    await fail(original);
    await clock.advance(1000);
    await fail(original); // second opening: waits 2 s
    await clock.advance(500);
    const json = JSON.parse(JSON.stringify(original.toJSON()));
    const copy = CircuitBreaker.restore(json, options);
    expect(copy.toJSON()).toEqual(original.toJSON());
    expect(copy.snapshot()).toEqual(original.snapshot());
    expect(await fail(copy)).toMatchObject({ state: "OPEN", retryAfterMs: 1500 });
    await clock.advance(1500);
    await fail(copy);
    expect(copy.toJSON().openAttempts).toBe(3);
  });

  it("a HALF_OPEN breaker round-trips with its probe progress, and in-flight probes' slots return", async () => {
    const clock = new FakeClock();
    const options: CircuitBreakerOptions = {
      name: "test",
      clock,
      slidingWindowSize: 2,
      waitDurationInOpenState: 1000,
      permittedNumberOfCallsInHalfOpenState: 3,
    };
    const original = circuitBreaker(options);
    await fail(original);
    await fail(original);
    await clock.advance(1000);
    await succeed(original);
    const pending = deferred();
    const inFlight = original.execute(() => pending.promise);
    const copy = circuitBreaker({ ...options, restore: original.toJSON() });
    expect(copy.snapshot()).toMatchObject({ state: HALF_OPEN, bufferedCalls: 1, inFlight: 0 });
    await succeed(copy);
    expect(copy.state).toBe(HALF_OPEN);
    await succeed(copy);
    expect(copy.state).toBe(CLOSED);
    pending.resolve("done");
    await inFlight;
  });

  it("a TIME_BASED window round-trips onto the restoring clock's time line", async () => {
    const clock = new FakeClock();
    const options: CircuitBreakerOptions = {
      name: "test",
      clock,
      slidingWindowType: "TIME_BASED",
      slidingWindowSize: 3,
      minimumNumberOfCalls: 3,
    };
    const original = circuitBreaker(options);
    await fail(original);
    await clock.advance(1000);
    await succeed(original);
    const json = original.toJSON();
    const otherClock = new FakeClock(987_654_321);
    const copy = CircuitBreaker.restore(json, { ...options, clock: otherClock });
    expect(copy.snapshot()).toEqual(original.snapshot());
    await otherClock.advance(2000); // the first second leaves the window
    expect(copy.snapshot()).toMatchObject({ bufferedCalls: 1, failedCalls: 0 });
  });

  it("restore re-arms the automatic half-open timer for the remaining wait", async () => {
    const clock = new FakeClock();
    const original = await opened(clock, { automaticTransitionFromOpenToHalfOpenEnabled: true });
    await clock.advance(400);
    const copy = CircuitBreaker.restore(original.toJSON(), {
      name: "test",
      clock,
      slidingWindowSize: 2,
      waitDurationInOpenState: 1000,
      automaticTransitionFromOpenToHalfOpenEnabled: true,
    });
    original.transitionToClosedState();
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(600);
    expect(copy.state).toBe(HALF_OPEN);
    expect(clock.pendingTimers).toBe(0);
  });

  it("an invalid snapshot is a config error with paths under restore", () => {
    let error: unknown;
    try {
      circuitBreaker({
        restore: {
          version: 1,
          state: "AJAR",
          window: { type: "COUNT_BASED", size: 2, outcomes: [7] },
        } as never,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toContain("restore.state");
    expect(paths).toContain("restore.window.outcomes");
    expect(paths).toContain("restore.halfOpenWindow");
  });
});
