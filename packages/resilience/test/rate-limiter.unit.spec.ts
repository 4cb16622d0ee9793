import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigReader } from "../src/config/config-reader.js";
import { Deadline } from "../src/deadline.js";
import { ConfigError, RateLimitedError } from "../src/errors.js";
import { RateLimiter, rateLimiter } from "../src/rate-limiter/rate-limiter.js";
import type { RateLimiterEvent } from "../src/rate-limiter/rate-limiter-event.js";
import { parseRateLimiterOptions } from "../src/rate-limiter/rate-limiter-options.js";
import { FakeClock } from "../src/testing/index.js";

function setup(options: { limitForPeriod?: number; timeoutDuration?: number | string; start?: number } = {}) {
  const clock = new FakeClock(options.start ?? 0);
  const limiter = rateLimiter({
    name: "search",
    limitForPeriod: options.limitForPeriod ?? 1,
    limitRefreshPeriod: 1000,
    timeoutDuration: options.timeoutDuration ?? 0,
    clock,
  });
  return { clock, limiter };
}

/** Records the clock time at which each call of the returned operation runs. */
function recorder(clock: FakeClock) {
  const ranAt: number[] = [];
  const op = () => {
    ranAt.push(clock.now());
    return "ok";
  };
  return { ranAt, op };
}

describe("RateLimiter", () => {
  it("grants limitForPeriod permits per cycle, then refuses with the wait until the next cycle", async () => {
    const { clock, limiter } = setup({ limitForPeriod: 3 });
    const { ranAt, op } = recorder(clock);
    await limiter.execute(op);
    await limiter.execute(op);
    clock.set(250);
    await limiter.execute(op);
    const refused = limiter.execute(op);
    await expect(refused).rejects.toBeInstanceOf(RateLimitedError);
    await expect(refused).rejects.toMatchObject({ limiter: "search", retryAfterMs: 750 });
    expect(ranAt).toEqual([0, 0, 250]);
    clock.set(1000);
    await limiter.execute(op);
    expect(ranAt).toEqual([0, 0, 250, 1000]);
  });

  it("aligns cycles to the moment the limiter was created", async () => {
    const { clock, limiter } = setup({ start: 300 });
    expect(limiter.tryAcquirePermission()).toBe(true);
    clock.set(1299);
    await expect(limiter.execute(() => "late")).rejects.toMatchObject({ retryAfterMs: 1 });
    clock.set(1300);
    await expect(limiter.execute(() => "next cycle")).resolves.toBe("next cycle");
  });

  it("does not carry unused permits into later cycles", () => {
    const { clock, limiter } = setup({ limitForPeriod: 2 });
    clock.set(5500);
    expect(limiter.snapshot().availablePermissions).toBe(2);
    expect(limiter.tryAcquirePermission()).toBe(true);
    expect(limiter.tryAcquirePermission()).toBe(true);
    expect(limiter.tryAcquirePermission()).toBe(false);
  });

  it("reserves a permit of a future cycle when the wait fits timeoutDuration, driving permissions negative", async () => {
    const { clock, limiter } = setup({ timeoutDuration: 1500 });
    const { ranAt, op } = recorder(clock);
    clock.set(200);
    await limiter.execute(op);
    const waiting = limiter.execute(op);
    expect(limiter.snapshot()).toMatchObject({ availablePermissions: -1, waitingThreads: 1 });
    await clock.advance(799);
    expect(ranAt).toEqual([200]);
    await clock.advance(1);
    await expect(waiting).resolves.toBe("ok");
    expect(ranAt).toEqual([200, 1000]);
    expect(limiter.snapshot()).toMatchObject({ availablePermissions: 0, waitingThreads: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("does not start a waiter before its reserved cycle when the timer fires early", async () => {
    // Timers that fire after 90 % of their delay, as libuv's cached loop time can make them early.
    class EarlyClock extends FakeClock {
      override setTimeout(callback: () => void, ms: number) {
        return super.setTimeout(callback, ms * 0.9);
      }
    }
    const clock = new EarlyClock();
    const limiter = rateLimiter({
      limitForPeriod: 1,
      limitRefreshPeriod: 1000,
      timeoutDuration: "5s",
      clock,
    });
    const { ranAt, op } = recorder(clock);
    await limiter.execute(op);
    const waiting = limiter.execute(op);
    await clock.advance(999);
    expect(ranAt).toEqual([0]);
    await clock.advance(2);
    await waiting;
    expect(ranAt).toHaveLength(2);
    expect(ranAt[1]).toBeGreaterThanOrEqual(1000);
    expect(clock.pendingTimers).toBe(0);
  });

  it("gives successive waiters successive cycles and refuses the one whose wait exceeds the timeout", async () => {
    const { clock, limiter } = setup({ timeoutDuration: 2500 });
    const { ranAt, op } = recorder(clock);
    const calls = [limiter.execute(op), limiter.execute(op), limiter.execute(op)];
    await expect(limiter.execute(op)).rejects.toMatchObject({ retryAfterMs: 3000 });
    await clock.advance(2000);
    await Promise.all(calls);
    expect(ranAt).toEqual([0, 1000, 2000]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("refuses at once, reserving nothing, when the wait exceeds timeoutDuration", async () => {
    const { clock, limiter } = setup({ timeoutDuration: 500 });
    await limiter.execute(() => "first");
    let called = false;
    await expect(
      limiter.execute(() => {
        called = true;
      }),
    ).rejects.toMatchObject({ retryAfterMs: 1000 });
    expect(called).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    expect(limiter.snapshot()).toMatchObject({ availablePermissions: 0, waitingThreads: 0, rejected: 1 });
  });

  it("never waits with timeoutDuration 0", async () => {
    const { clock, limiter } = setup({ timeoutDuration: 0 });
    clock.set(999);
    await limiter.execute(() => "first");
    await expect(limiter.execute(() => "second")).rejects.toMatchObject({ retryAfterMs: 1 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("starts no timer when a permit is available", async () => {
    const { clock, limiter } = setup({ limitForPeriod: 2, timeoutDuration: "5s" });
    const timersDuringCall: number[] = [];
    await limiter.execute(() => timersDuringCall.push(clock.pendingTimers));
    await limiter.acquirePermission();
    expect(timersDuringCall).toEqual([0]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("gives the reserved permit back when the waiter's signal aborts", async () => {
    const { clock, limiter } = setup({ timeoutDuration: "5s" });
    const { ranAt, op } = recorder(clock);
    await limiter.execute(op);
    const controller = new AbortController();
    const aborted = limiter.execute(op, { signal: controller.signal });
    expect(limiter.snapshot().availablePermissions).toBe(-1);
    await clock.advance(400);
    const reason = new Error("client went away");
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(limiter.snapshot()).toMatchObject({ availablePermissions: 0, waitingThreads: 0, rejected: 0 });
    expect(clock.pendingTimers).toBe(0);
    const next = limiter.execute(op);
    await clock.advance(600);
    await next;
    expect(ranAt).toEqual([0, 1000]);
  });

  it("rejects with the reason of an already aborted signal and takes no permit", async () => {
    const { limiter } = setup();
    const reason = new Error("gone");
    let called = false;
    await expect(
      limiter.execute(
        () => {
          called = true;
        },
        { signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
    await expect(limiter.acquirePermission(1, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(called).toBe(false);
    expect(limiter.snapshot().availablePermissions).toBe(1);
  });

  it("refuses a wait longer than the time left before the context's deadline", async () => {
    const { clock, limiter } = setup({ timeoutDuration: "5s" });
    await limiter.execute(() => "first");
    const deadline = Deadline.after(500, clock);
    await expect(limiter.execute(() => "late", { deadline })).rejects.toMatchObject({ retryAfterMs: 1000 });
    expect(clock.pendingTimers).toBe(0);
    expect(limiter.snapshot().availablePermissions).toBe(0);
  });

  it("lets acquirePermission take several permits, reserving across cycles", async () => {
    const { clock, limiter } = setup({ limitForPeriod: 2, timeoutDuration: "5s" });
    await limiter.acquirePermission(2);
    let granted = false;
    const three = limiter.acquirePermission(3).then(() => {
      granted = true;
    });
    expect(limiter.snapshot().availablePermissions).toBe(-3);
    await clock.advance(1999);
    expect(granted).toBe(false);
    await clock.advance(1);
    await three;
    expect(granted).toBe(true);
    expect(limiter.snapshot().availablePermissions).toBe(1);
  });

  it("rejects acquirePermission with RateLimitedError when the wait exceeds the timeout", async () => {
    const { limiter } = setup({ limitForPeriod: 2, timeoutDuration: "1s" });
    await expect(limiter.acquirePermission(5)).rejects.toMatchObject({ retryAfterMs: 2000 });
    expect(limiter.snapshot().availablePermissions).toBe(2);
  });

  it("refuses permit counts that are not whole numbers of at least 1", async () => {
    const { limiter } = setup();
    await expect(limiter.acquirePermission(0)).rejects.toBeInstanceOf(RangeError);
    expect(() => limiter.tryAcquirePermission(1.5)).toThrow(RangeError);
    expect(() => limiter.reservePermission(-1)).toThrow(RangeError);
  });

  it("tryAcquirePermission never waits and never reserves", () => {
    const { clock, limiter } = setup({ timeoutDuration: "5s" });
    expect(limiter.tryAcquirePermission()).toBe(true);
    expect(limiter.tryAcquirePermission()).toBe(false);
    expect(limiter.snapshot()).toMatchObject({ availablePermissions: 0, rejected: 1 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("reservePermission returns 0 for now, the wait for a reservation, and -1 past the timeout", () => {
    const { clock, limiter } = setup({ timeoutDuration: 1500 });
    clock.set(100);
    expect(limiter.reservePermission()).toBe(0);
    expect(limiter.reservePermission()).toBe(900);
    expect(limiter.reservePermission()).toBe(-1);
    expect(limiter.snapshot()).toMatchObject({ availablePermissions: -1, waitingThreads: 0, rejected: 1 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("drainPermissions takes what is left of the current cycle only", () => {
    const { clock, limiter } = setup({ limitForPeriod: 5 });
    const events: RateLimiterEvent[] = [];
    limiter.events.subscribe((e) => events.push(e));
    limiter.tryAcquirePermission(2);
    limiter.drainPermissions();
    expect(events.at(-1)).toEqual({ type: "drained", name: "search", permits: 3 });
    expect(limiter.tryAcquirePermission()).toBe(false);
    clock.set(1000);
    expect(limiter.snapshot().availablePermissions).toBe(5);
  });

  it("changeLimitForPeriod applies from the next cycle on", () => {
    const { clock, limiter } = setup({ limitForPeriod: 2 });
    limiter.tryAcquirePermission();
    limiter.changeLimitForPeriod(5);
    expect(limiter.limitForPeriod).toBe(5);
    expect(limiter.tryAcquirePermission()).toBe(true);
    expect(limiter.tryAcquirePermission()).toBe(false);
    clock.set(1000);
    expect(limiter.snapshot().availablePermissions).toBe(5);
  });

  it("changeLimitForPeriod leaves the cycle already under way at the old limit", () => {
    const { clock, limiter } = setup({ limitForPeriod: 2 });
    limiter.tryAcquirePermission(2);
    clock.set(3500);
    limiter.changeLimitForPeriod(10);
    expect(limiter.snapshot().availablePermissions).toBe(2);
    clock.set(4000);
    expect(limiter.snapshot().availablePermissions).toBe(10);
    expect(() => limiter.changeLimitForPeriod(0)).toThrow(ConfigError);
  });

  it("changeTimeoutDuration applies to later callers", async () => {
    const { clock, limiter } = setup({ timeoutDuration: 0 });
    limiter.tryAcquirePermission();
    expect(limiter.reservePermission()).toBe(-1);
    limiter.changeTimeoutDuration("1s");
    expect(limiter.timeoutDurationMs).toBe(1000);
    const later = limiter.acquirePermission();
    await clock.advance(1000);
    await expect(later).resolves.toBeUndefined();
    expect(() => limiter.changeTimeoutDuration(-1)).toThrow(ConfigError);
  });

  it("emits successfulAcquire after any wait, and failedAcquire on refusal and abort", async () => {
    const { clock, limiter } = setup({ timeoutDuration: "5s" });
    const events: RateLimiterEvent[] = [];
    limiter.events.subscribe((e) => events.push(e));
    await limiter.execute(() => "now");
    const waited = limiter.execute(() => "later");
    expect(events).toHaveLength(1);
    await clock.advance(1000);
    await waited;
    const controller = new AbortController();
    const aborted = limiter.execute(() => "never", { signal: controller.signal });
    await clock.advance(300);
    controller.abort();
    await expect(aborted).rejects.toBeDefined();
    limiter.changeTimeoutDuration(0);
    expect(limiter.tryAcquirePermission()).toBe(false);
    expect(events).toEqual([
      { type: "successfulAcquire", name: "search", permits: 1, waitedMs: 0 },
      { type: "successfulAcquire", name: "search", permits: 1, waitedMs: 1000 },
      { type: "failedAcquire", name: "search", permits: 1, reason: "aborted", retryAfterMs: 700 },
      { type: "failedAcquire", name: "search", permits: 1, reason: "rejected", retryAfterMs: 700 },
    ]);
  });

  it("lets an operation's failure through, the permit staying spent", async () => {
    const { limiter } = setup();
    const failure = new Error("boom");
    await expect(
      limiter.execute(() => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(limiter.tryAcquirePermission()).toBe(false);
  });

  it("defaults to Resilience4j's 50 permits and 5 s timeout, with a one-second cycle", () => {
    const limiter = new RateLimiter({ clock: new FakeClock() });
    expect(limiter.name).toBe("default");
    expect(limiter.limitForPeriod).toBe(50);
    expect(limiter.limitRefreshPeriodMs).toBe(1000);
    expect(limiter.timeoutDurationMs).toBe(5000);
  });

  it("rejects invalid options, naming each path", () => {
    const build = () =>
      rateLimiter({
        limitForPeriod: 1.5,
        limitRefreshPeriod: 0,
        timeoutDuration: "soon",
        clock: {} as FakeClock,
        limitrefreshPeriod: "1s",
      } as never);
    expect(build).toThrow(ConfigError);
    try {
      build();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
        "clock",
        "limitForPeriod",
        "limitRefreshPeriod",
        "limitrefreshPeriod",
        "timeoutDuration",
      ]);
    }
  });

  it("parses named instances with paths under the given prefix", () => {
    const reader = new ConfigReader();
    const resolved = parseRateLimiterOptions(
      { limitForPeriod: 0, timeoutDuration: "2s" },
      reader,
      "instances.search",
    );
    expect(reader.issues).toEqual([
      { path: "instances.search.limitForPeriod", message: "must be at least 1, got 0" },
    ]);
    expect(resolved.timeoutDurationMs).toBe(2000);
  });

  it("never lets more than limitForPeriod single permits start in one cycle", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3000 }),
        steps(1),
        run(false),
      ),
    );
  });

  it("never lets more permits start by the end of any cycle than the cycles so far have issued", async () => {
    // A reservation of several permits may take what is left of the current cycle and use it at the
    // start of the next (as in Resilience4j), so only the running total is bounded by cycles × limit.
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3000 }),
        steps(5),
        run(true),
      ),
    );
  });
});

type Step = { advance: number; kind: "try" | "reserve" | "execute"; permits: number };

function steps(maxPermits: number) {
  return fc.array(
    fc.record({
      advance: fc.integer({ min: 0, max: 700 }),
      kind: fc.constantFrom<Step["kind"]>("try", "reserve", "execute"),
      permits: fc.integer({ min: 1, max: maxPermits }),
    }),
    { maxLength: 40 },
  );
}

function run(cumulative: boolean) {
  return async (limit: number, timeout: number, plan: Step[]) => {
    const start = 17;
    const clock = new FakeClock(start);
    const limiter = rateLimiter({
      limitForPeriod: limit,
      limitRefreshPeriod: 1000,
      timeoutDuration: timeout,
      clock,
    });
    const perCycle: number[] = [];
    const started = (at: number, permits: number) => {
      const cycle = Math.floor((at - start) / 1000);
      perCycle[cycle] = (perCycle[cycle] ?? 0) + permits;
    };
    const pending: Promise<unknown>[] = [];
    for (const step of plan) {
      await clock.advance(step.advance);
      const permits = Math.min(step.permits, limit);
      if (step.kind === "try") {
        if (limiter.tryAcquirePermission(permits)) started(clock.now(), permits);
      } else if (step.kind === "reserve") {
        const wait = limiter.reservePermission(permits);
        if (wait >= 0) started(clock.now() + wait, permits);
      } else {
        pending.push(limiter.execute(() => started(clock.now(), 1)).catch(() => undefined));
      }
    }
    await clock.advance(timeout + 1000);
    await Promise.all(pending);
    let total = 0;
    for (let cycle = 0; cycle < perCycle.length; cycle++) {
      total += perCycle[cycle] ?? 0;
      if (cumulative) expect(total).toBeLessThanOrEqual((cycle + 1) * limit);
      else expect(perCycle[cycle] ?? 0).toBeLessThanOrEqual(limit);
    }
    expect(clock.pendingTimers).toBe(0);
  };
}
