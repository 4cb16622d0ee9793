import { getEventListeners } from "node:events";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { type Clock, systemClock, type TimerHandle } from "../src/clock.js";
import { ConfigReader } from "../src/config/config-reader.js";
import { Deadline } from "../src/deadline.js";
import { ConfigError, DeadlineExceededError, TimeoutError } from "../src/errors.js";
import type { PolicyContext } from "../src/policy-context.js";
import { FakeClock } from "../src/testing/index.js";
import { type Timeout, timeout } from "../src/timeout/timeout.js";
import type { TimeoutEvent } from "../src/timeout/timeout-event.js";
import { parseTimeoutOptions, type TimeoutStrategy } from "../src/timeout/timeout-options.js";
import { deferred } from "./support/deferred.js";
import { outcome } from "./support/outcome.js";

/** An operation that settles only when its signal aborts, with the signal's reason. */
function honoursSignal(ctx: PolicyContext): Promise<never> {
  return new Promise((_, reject) => {
    ctx.signal!.addEventListener("abort", () => reject(ctx.signal!.reason), { once: true });
  });
}

function recordEvents(policy: Timeout): TimeoutEvent[] {
  const events: TimeoutEvent[] = [];
  policy.events.subscribe((e) => events.push(e));
  return events;
}

const strategies: TimeoutStrategy[] = ["cooperative", "aggressive"];

describe("timeout", () => {
  let clock: FakeClock;
  afterEach(() => {
    expect(clock.pendingTimers).toBeLessThanOrEqual(1);
  });

  it.each(strategies)(
    "%s: the operation's signal aborts with a TimeoutError when the limit elapses",
    async (strategy) => {
      clock = new FakeClock();
      const policy = timeout({ duration: "2s", strategy, clock });
      let signal: AbortSignal | undefined;
      const call = outcome(
        policy.execute((ctx) => {
          signal = ctx.signal;
          return honoursSignal(ctx);
        }),
      );
      await clock.advance(1999);
      expect(signal!.aborted).toBe(false);
      expect(call.settled).toBe(false);
      await clock.advance(1);
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toBeInstanceOf(TimeoutError);
      expect((signal!.reason as TimeoutError).timeoutMs).toBe(2000);
      expect(call.error).toBe(signal!.reason);
      expect(clock.pendingTimers).toBe(0);
    },
  );

  it("cooperative: waits for the operation after aborting and throws a TimeoutError caused by its error", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    const op = deferred<number>();
    const call = outcome(policy.execute(() => op.promise));
    await clock.advance(500);
    expect(call.settled).toBe(false);
    const cause = new Error("connection reset");
    op.reject(cause);
    await clock.flush();
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect((call.error as TimeoutError).cause).toBe(cause);
  });

  it("cooperative: returns the value of an operation that resolves after the limit", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    const op = deferred<number>();
    const call = outcome(policy.execute(() => op.promise));
    await clock.advance(150);
    op.resolve(7);
    await clock.flush();
    expect(call).toEqual({ settled: true, value: 7 });
    expect(policy.snapshot()).toEqual({ calls: 1, timeouts: 1, inFlight: 0 });
  });

  it("aggressive: rejects at once with a TimeoutError and tells the operation to stop", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, strategy: "aggressive", clock });
    const op = deferred<number>();
    let signal: AbortSignal | undefined;
    const call = outcome(
      policy.execute((ctx) => {
        signal = ctx.signal;
        return op.promise;
      }),
    );
    await clock.advance(100);
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect(signal!.aborted).toBe(true);
    expect(policy.snapshot()).toEqual({ calls: 1, timeouts: 1, inFlight: 1 });
    op.resolve(1);
    await clock.flush();
    expect(policy.snapshot().inFlight).toBe(0);
  });

  it("aggressive: ignores the late outcome, and a late rejection is not an unhandled rejection", async () => {
    clock = new FakeClock();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const policy = timeout({ duration: 100, strategy: "aggressive", clock });
      const op = deferred<number>();
      const call = outcome(policy.execute(() => op.promise));
      await clock.advance(100);
      const lateError = new Error("late");
      op.reject(lateError);
      await clock.flush();
      await clock.flush();
      expect(call.error).toBeInstanceOf(TimeoutError);
      expect((call.error as TimeoutError).cause).toBeUndefined();
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("an operation that rejects with its signal's reason rejects with that TimeoutError, not a wrapped one", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    let reason: unknown;
    const call = outcome(
      policy.execute((ctx) => {
        ctx.signal!.addEventListener("abort", () => {
          reason = ctx.signal!.reason;
        });
        return honoursSignal(ctx);
      }),
    );
    await clock.advance(100);
    expect(call.error).toBe(reason);
    expect((call.error as TimeoutError).cause).toBeUndefined();
  });

  it("creates no AbortController unless the operation reads ctx.signal", async () => {
    clock = new FakeClock();
    const Original = globalThis.AbortController;
    let created = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        created++;
      }
    };
    try {
      const policy = timeout({ duration: 100, clock });
      await policy.execute(async () => 1);
      await policy.execute(async (ctx) => ctx.deadline);
      expect(created).toBe(0);
      await policy.execute(async (ctx) => ctx.signal);
      expect(created).toBe(1);
    } finally {
      globalThis.AbortController = Original;
    }
  });

  it("nothing is aborted on the success path", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    const signals: AbortSignal[] = [];
    await policy.execute(async (ctx) => signals.push(ctx.signal!));
    await policy.execute(async (ctx) => signals.push(ctx.signal!), { signal: new AbortController().signal });
    await clock.advance(1000);
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
  });

  it("calls share one timer: never more than one per policy, whatever the number of calls in flight", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    const ops = [deferred<number>(), deferred<number>(), deferred<number>()];
    const calls = ops.map((op) => policy.execute(() => op.promise));
    await clock.advance(10);
    const late = outcome(policy.execute(honoursSignal));
    expect(clock.pendingTimers).toBe(1);
    for (const [i, op] of ops.entries()) op.resolve(i);
    expect(await Promise.all(calls)).toEqual([0, 1, 2]);
    expect(clock.pendingTimers).toBe(1);
    // The timer was armed for the first call (due at 100) and is re-armed for the late one (due at 110).
    await clock.advance(90);
    expect(late.settled).toBe(false);
    await clock.advance(10);
    expect(late.error).toBeInstanceOf(TimeoutError);
    expect(policy.snapshot()).toEqual({ calls: 4, timeouts: 1, inFlight: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("an operation that returns a value or throws synchronously needs no timer at all", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    expect(await policy.execute(() => 5)).toBe(5);
    const error = new Error("sync");
    await expect(
      policy.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(clock.pendingTimers).toBe(0);
    expect(policy.snapshot()).toEqual({ calls: 2, timeouts: 0, inFlight: 0 });
  });

  it("the shared timer is gone once the limit has passed after the last call, and never holds the process while idle", async () => {
    clock = new FakeClock();
    const handles: TimerHandle[] = [];
    const recording: Clock = {
      now: () => systemClock.now(),
      setTimeout(callback, ms, unref) {
        const handle = systemClock.setTimeout(callback, ms, unref);
        handles.push(handle);
        return handle;
      },
      clearTimeout: (handle) => systemClock.clearTimeout(handle),
    };
    const policy = timeout({ duration: "1h", clock: recording });
    const op = deferred<number>();
    const call = policy.execute(() => op.promise);
    const handle = handles[0] as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(true);
    op.resolve(1);
    await call;
    expect(handle.hasRef()).toBe(false);
    await policy.execute(async () => 2);
    expect(handles).toHaveLength(1);
    expect(handle.hasRef()).toBe(false);
    systemClock.clearTimeout(handle);

    const fake = timeout({ duration: 100, clock });
    await fake.execute(async () => 1);
    await clock.advance(100);
    expect(clock.pendingTimers).toBe(0);
  });

  it("expires every call exactly at its own start + duration, with one shared timer", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 80 }), takes: fc.integer({ min: 1, max: 300 }) }),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        fc.constantFrom(...strategies),
        async (calls, strategy) => {
          clock = new FakeClock();
          const duration = 100;
          const policy = timeout({ duration, strategy, clock });
          const results: { start: number; takes: number; endedAt?: number; timedOut?: boolean }[] = [];
          const all: Promise<void>[] = [];
          for (const { gap, takes } of calls) {
            await clock.advance(gap);
            const record: (typeof results)[number] = { start: clock.now(), takes };
            results.push(record);
            const op = (ctx: PolicyContext) =>
              new Promise<number>((resolve, reject) => {
                const timer = clock.setTimeout(() => resolve(1), takes);
                ctx.signal!.addEventListener("abort", () => {
                  clock.clearTimeout(timer);
                  reject(ctx.signal!.reason);
                });
              });
            all.push(
              policy.execute(op).then(
                () => {
                  record.endedAt = clock.now();
                  record.timedOut = false;
                },
                (error: unknown) => {
                  record.endedAt = clock.now();
                  record.timedOut = error instanceof TimeoutError;
                },
              ),
            );
          }
          await clock.advance(1000);
          await Promise.all(all);
          for (const r of results) {
            expect(r.timedOut).toBe(r.takes > duration);
            expect(r.endedAt).toBe(r.start + Math.min(r.takes, duration));
          }
          await clock.advance(duration);
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("hands the operation the earlier of the caller's deadline and the limit", async () => {
    clock = new FakeClock(1000);
    const policy = timeout({ duration: 500, clock });
    const own = await policy.execute(async (ctx) => ctx.deadline);
    expect(own!.at).toBe(1500);
    const sooner = new Deadline(1200, clock);
    expect(await policy.execute(async (ctx) => ctx.deadline, { deadline: sooner })).toBe(sooner);
    const later = new Deadline(9000, clock);
    expect((await policy.execute(async (ctx) => ctx.deadline, { deadline: later }))!.at).toBe(1500);
  });

  it("a caller's deadline sooner than the limit fires the timeout at that deadline, as a TimeoutError", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 1000, clock });
    const events = recordEvents(policy);
    const call = outcome(policy.execute(honoursSignal, { deadline: Deadline.after(300, clock) }));
    await clock.advance(299);
    expect(call.settled).toBe(false);
    await clock.advance(1);
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect((call.error as TimeoutError).timeoutMs).toBe(300);
    expect(events[0]).toEqual({ type: "timeout", name: "default", durationMs: 300 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("a spent caller deadline fails fast with DeadlineExceededError without calling the operation", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 1000, clock });
    const deadline = Deadline.after(50, clock);
    await clock.advance(50);
    let called = false;
    await expect(
      policy.execute(
        async () => {
          called = true;
        },
        { deadline },
      ),
    ).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(called).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it("an already aborted caller signal rejects with its reason without calling the operation", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 1000, clock });
    const controller = new AbortController();
    const reason = new Error("client went away");
    controller.abort(reason);
    let called = false;
    await expect(
      policy.execute(
        async () => {
          called = true;
        },
        { signal: controller.signal },
      ),
    ).rejects.toBe(reason);
    expect(called).toBe(false);
  });

  it.each(strategies)(
    "%s: a caller abort mid-call aborts the operation's signal and rejects with the caller's reason",
    async (strategy) => {
      clock = new FakeClock();
      const policy = timeout({ duration: 1000, strategy, clock });
      const events = recordEvents(policy);
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const call = outcome(
        policy.execute(
          (ctx) => {
            signal = ctx.signal;
            return honoursSignal(ctx);
          },
          { signal: controller.signal },
        ),
      );
      await clock.advance(100);
      const reason = new Error("client went away");
      controller.abort(reason);
      await clock.flush();
      expect(signal!.reason).toBe(reason);
      expect(call.error).toBe(reason);
      expect(policy.snapshot()).toEqual({ calls: 1, timeouts: 0, inFlight: 0 });
      expect(events.map((e) => e.type)).toEqual(["aborted"]);
      await clock.advance(2000);
      expect(policy.snapshot().timeouts).toBe(0);
    },
  );

  it("a caller abort reaches an operation that reads its signal only after the abort", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 1000, clock });
    const controller = new AbortController();
    const reason = new Error("stop");
    const call = outcome(
      policy.execute(
        async (ctx) => {
          await clock.flush();
          return ctx.signal!.reason as unknown;
        },
        { signal: controller.signal },
      ),
    );
    controller.abort(reason);
    await clock.flush();
    expect(call.value).toBe(reason);
  });

  it.each(strategies)(
    "%s: the listener on the caller's signal is removed when the call settles",
    async (strategy) => {
      clock = new FakeClock();
      const policy = timeout({ duration: 100, strategy, clock });
      const controller = new AbortController();
      const { signal } = controller;
      const running = deferred<number>();
      const call = policy.execute(() => running.promise, { signal });
      expect(getEventListeners(signal, "abort")).toHaveLength(1);
      running.resolve(1);
      await call;
      expect(getEventListeners(signal, "abort")).toHaveLength(0);
      const slow = outcome(policy.execute(() => new Promise<number>(() => {}), { signal }));
      await clock.advance(100);
      if (strategy === "aggressive") {
        expect(slow.error).toBeInstanceOf(TimeoutError);
        expect(getEventListeners(signal, "abort")).toHaveLength(0);
      } else {
        expect(slow.settled).toBe(false);
      }
    },
  );

  it("keeps the caller's attempt and key in the operation's context", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, clock });
    const seen = await policy.execute(async (ctx) => ({ attempt: ctx.attempt, key: ctx.key }), {
      attempt: 3,
      key: "payments",
    });
    expect(seen).toEqual({ attempt: 3, key: "payments" });
  });

  it("reports timeout, success and error events and a snapshot of calls, timeouts and calls in flight", async () => {
    clock = new FakeClock();
    const policy = timeout({ duration: 100, name: "users", clock });
    const events = recordEvents(policy);
    await policy.execute(async () => {
      await clock.advance(30);
      return 1;
    });
    const failure = new Error("boom");
    await expect(policy.execute(() => Promise.reject(failure))).rejects.toBe(failure);
    const slow = outcome(policy.execute(honoursSignal));
    expect(policy.snapshot()).toEqual({ calls: 3, timeouts: 0, inFlight: 1 });
    await clock.advance(100);
    expect(slow.error).toBeInstanceOf(TimeoutError);
    expect(events).toEqual([
      { type: "success", name: "users", elapsedMs: 30 },
      { type: "error", name: "users", elapsedMs: 0, error: failure },
      { type: "timeout", name: "users", durationMs: 100 },
      { type: "error", name: "users", elapsedMs: 100, error: slow.error },
    ]);
    expect(policy.snapshot()).toEqual({ calls: 3, timeouts: 1, inFlight: 0 });
  });

  it("validates its options with exact paths and rejects unknown keys", () => {
    clock = new FakeClock();
    const bad = () =>
      timeout({ duration: 0, strategy: "optimistic", durration: "1s" } as unknown as Parameters<
        typeof timeout
      >[0]);
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(["durration", "duration", "strategy"]);
    }
    expect(() => timeout({} as Parameters<typeof timeout>[0])).toThrow(/duration: required/);
    expect(() => timeout({ duration: "soon" })).toThrow(/duration/);
  });

  it("parseTimeoutOptions reports problems under the given path and resolves durations", () => {
    clock = new FakeClock();
    const reader = new ConfigReader();
    const resolved = parseTimeoutOptions(
      { duration: "1.5s", strategy: "aggressive" },
      reader,
      "timeout.instances.api",
    );
    expect(reader.issues).toEqual([]);
    expect(resolved).toMatchObject({ durationMs: 1500, strategy: "aggressive", name: "default" });
    parseTimeoutOptions({ duration: -5, clock: {} }, reader, "timeout.instances.api");
    expect(reader.issues.map((i) => i.path)).toEqual([
      "timeout.instances.api.clock",
      "timeout.instances.api.duration",
    ]);
  });
});
