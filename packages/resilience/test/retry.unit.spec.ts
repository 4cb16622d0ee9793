import { describe, expect, it } from "vitest";
import { ConfigReader } from "../src/config/config-reader.js";
import { Deadline } from "../src/deadline.js";
import { BreakerOpenError, ConfigError, RateLimitedError, TimeoutError } from "../src/errors.js";
import type { PolicyContext } from "../src/policy-context.js";
import { decorrelatedJitterBackoff } from "../src/retry/backoff/decorrelated-jitter-backoff.js";
import { Retry, retry } from "../src/retry/retry.js";
import { retryBudget } from "../src/retry/retry-budget.js";
import type { RetryEvent } from "../src/retry/retry-event.js";
import { parseRetryOptions, type RetryOptions } from "../src/retry/retry-options.js";
import { FakeClock } from "../src/testing/index.js";

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Attaches handlers at once so that a rejection is never reported as unhandled while time is advanced. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** An operation that fails with a new error on every call and records the contexts it got. */
function failing(make: (attempt: number) => unknown = (n) => new Error(`failure ${n}`)) {
  const contexts: PolicyContext[] = [];
  const errors: unknown[] = [];
  const operation = (context: PolicyContext) => {
    contexts.push(context);
    const error = make(contexts.length);
    errors.push(error);
    return Promise.reject(error);
  };
  return { operation, contexts, errors };
}

function recordEvents(policy: Retry): RetryEvent[] {
  const events: RetryEvent[] = [];
  policy.events.subscribe((event) => events.push(event));
  return events;
}

function issuesOf(options: unknown): string[] {
  try {
    new Retry(options as RetryOptions);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => i.path);
    throw error;
  }
  return [];
}

function setup(options: RetryOptions = {}) {
  const clock = new FakeClock();
  const policy = retry({ clock, backoff: 100, ...options });
  return { clock, policy };
}

describe("Retry", () => {
  it("maxAttempts counts total calls: 3 means at most 3 calls of the operation", async () => {
    const { clock, policy } = setup({ maxAttempts: 3 });
    const op = failing();
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(1000);
    expect(op.contexts.length).toBe(3);
    expect(await outcome).toEqual({ ok: false, error: op.errors[2] });
    expect(clock.pendingTimers).toBe(0);
  });

  it("maxAttempts 1 means no retry", async () => {
    const { clock, policy } = setup({ maxAttempts: 1 });
    const op = failing();
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(1000);
    expect(op.contexts.length).toBe(1);
    expect((await outcome).ok).toBe(false);
    expect(policy.snapshot().retries).toBe(0);
  });

  it("maxAttempts must be a whole number of at least 1", () => {
    expect(issuesOf({ maxAttempts: 0 })).toEqual(["maxAttempts"]);
    expect(issuesOf({ maxAttempts: 2.5 })).toEqual(["maxAttempts"]);
    expect(issuesOf({ maxAttempts: "3" })).toEqual(["maxAttempts"]);
    expect(issuesOf({ maxAttempts: 1 })).toEqual([]);
  });

  it("rethrows the last error unchanged on give-up", async () => {
    const { clock, policy } = setup({ maxAttempts: 2 });
    const op = failing((n) => new TypeError(`attempt ${n}`));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(100);
    const result = await outcome;
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toBe(op.errors[1]);
    expect(!result.ok && result.error).toBeInstanceOf(TypeError);
  });

  it("passes attempt and the caller's signal, deadline and key to every attempt", async () => {
    const { clock, policy } = setup({ maxAttempts: 3 });
    const controller = new AbortController();
    const deadline = Deadline.after(10_000, clock);
    const op = failing();
    const outcome = settle(
      policy.execute(op.operation, { signal: controller.signal, deadline, key: "user-7" }),
    );
    await clock.advance(200);
    await outcome;
    expect(op.contexts.map((c) => c.attempt)).toEqual([1, 2, 3]);
    for (const context of op.contexts) {
      expect(context.signal).toBe(controller.signal);
      expect(context.deadline).toBe(deadline);
      expect(context.key).toBe("user-7");
    }
  });

  it("waits the backoff on the injected clock between attempts", async () => {
    const { clock, policy } = setup({ maxAttempts: 2, backoff: "250ms" });
    const op = failing();
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(249);
    expect(op.contexts.length).toBe(1);
    await clock.advance(1);
    expect(op.contexts.length).toBe(2);
    await outcome;
    expect(clock.pendingTimers).toBe(0);
  });

  it("calls a custom backoff with (attempt, error, previous delay)", async () => {
    const calls: [number, unknown, number][] = [];
    const { clock, policy } = setup({
      maxAttempts: 4,
      backoff: (attempt, reason, previous) => {
        calls.push([attempt, reason, previous]);
        return attempt * 10;
      },
    });
    const op = failing();
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(60);
    await outcome;
    expect(calls).toEqual([
      [1, op.errors[0], 0],
      [2, op.errors[1], 10],
      [3, op.errors[2], 20],
    ]);
  });

  it("feeds decorrelated jitter the delay actually waited, with a seeded random", async () => {
    const randoms = [0.9, 0.5, 0.25];
    const backoff = decorrelatedJitterBackoff({
      initialDelay: 100,
      maxDelay: 10_000,
      random: () => randoms.shift()!,
    });
    const { clock, policy } = setup({ maxAttempts: 4, backoff });
    const events = recordEvents(policy);
    const op = failing();
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(10_000);
    await outcome;
    // 100 (the range is [100, 100] whatever the draw), then 100 + 0.5 × (300 − 100) = 200, then 100 + 0.25 × (600 − 100) = 225.
    expect(events.filter((e) => e.type === "retry").map((e) => e.type === "retry" && e.delayMs)).toEqual([
      100, 200, 225,
    ]);
  });

  it("retries a synchronous throw of the first attempt", async () => {
    const { clock, policy } = setup();
    let calls = 0;
    const outcome = settle(
      policy.execute(() => {
        calls++;
        if (calls === 1) throw new Error("sync");
        return "ok";
      }),
    );
    await clock.advance(100);
    expect(await outcome).toEqual({ ok: true, value: "ok" });
  });

  it("does not call the operation when the caller's signal is already aborted", async () => {
    const { policy } = setup();
    const controller = new AbortController();
    const reason = new Error("caller left");
    controller.abort(reason);
    let calls = 0;
    await expect(policy.execute(() => ++calls, { signal: controller.signal })).rejects.toBe(reason);
    expect(calls).toBe(0);
    expect(policy.snapshot()).toMatchObject({ calls: 1, aborted: 1, failedWithoutRetry: 0 });
  });

  it("does not retry a caller abort, and does not count it as a failure", async () => {
    const { clock, policy } = setup({ retryOn: () => true });
    const controller = new AbortController();
    const events = recordEvents(policy);
    let calls = 0;
    const outcome = settle(
      policy.execute(
        ({ signal }) =>
          new Promise((_, reject) => {
            calls++;
            signal!.addEventListener("abort", () => reject(new Error("socket closed by abort")));
          }),
        { signal: controller.signal },
      ),
    );
    const reason = new Error("caller left");
    controller.abort(reason);
    expect(await outcome).toEqual({ ok: false, error: reason });
    await clock.advance(1000);
    expect(calls).toBe(1);
    expect(events).toEqual([
      { type: "giveUp", name: "default", attempts: 1, reason: "aborted", error: reason },
    ]);
    expect(policy.snapshot()).toMatchObject({ aborted: 1, failedWithoutRetry: 0, failedAfterRetry: 0 });
  });

  it("aborts a wait at once with signal.reason and makes no more attempts", async () => {
    const { clock, policy } = setup({ backoff: "10s" });
    const controller = new AbortController();
    const op = failing();
    const outcome = settle(policy.execute(op.operation, { signal: controller.signal }));
    await clock.advance(1000);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error("caller left");
    controller.abort(reason);
    expect(await outcome).toEqual({ ok: false, error: reason });
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(20_000);
    expect(op.contexts.length).toBe(1);
  });

  it("retries TimeoutError by default", async () => {
    const { clock, policy } = setup();
    const op = failing(() => new TimeoutError(50));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(1000);
    await outcome;
    expect(op.contexts.length).toBe(3);
  });

  it("does not retry BreakerOpenError by default", async () => {
    const { clock, policy } = setup();
    const events = recordEvents(policy);
    const op = failing(() => new BreakerOpenError("payments", "OPEN", 5000));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(10_000);
    expect(await outcome).toEqual({ ok: false, error: op.errors[0] });
    expect(op.contexts.length).toBe(1);
    expect(events).toMatchObject([{ type: "giveUp", attempts: 1, reason: "notRetryable" }]);
  });

  it("waits a BreakerOpenError's retryAfterMs when retryOn chooses to retry it", async () => {
    const { clock, policy } = setup({ retryOn: () => true, maxAttempts: 2 });
    const op = failing(() => new BreakerOpenError("payments", "HALF_OPEN", 700));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(699);
    expect(op.contexts.length).toBe(1);
    await clock.advance(1);
    expect(op.contexts.length).toBe(2);
    await outcome;
  });

  it("retryOn decides which errors are retried and sees the attempt number", async () => {
    const seen: number[] = [];
    const { clock, policy } = setup({
      maxAttempts: 5,
      retryOn: (error, attempt) => {
        seen.push(attempt);
        return (error as Error).message !== "fatal";
      },
    });
    const events = recordEvents(policy);
    const op = failing((n) => new Error(n === 3 ? "fatal" : "transient"));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(1000);
    expect(await outcome).toEqual({ ok: false, error: op.errors[2] });
    expect(seen).toEqual([1, 2, 3]);
    expect(events.at(-1)).toMatchObject({ type: "giveUp", attempts: 3, reason: "notRetryable" });
  });

  it("retryOnResult retries a returned value and returns the last one when attempts run out", async () => {
    const { clock, policy } = setup({
      maxAttempts: 3,
      retryOnResult: (r) => (r as { status: number }).status === 503,
    });
    const events = recordEvents(policy);
    const responses = [{ status: 503 }, { status: 503 }, { status: 503 }];
    let calls = 0;
    const outcome = settle(policy.execute(() => Promise.resolve(responses[calls++]!)));
    await clock.advance(1000);
    expect(await outcome).toEqual({ ok: true, value: responses[2] });
    expect((await outcome).ok && ((await outcome) as { value: unknown }).value).toBe(responses[2]);
    expect(events.map((e) => e.type)).toEqual(["retry", "retry", "giveUp"]);
    expect(events[0]).toEqual({
      type: "retry",
      name: "default",
      attempt: 1,
      delayMs: 100,
      result: responses[0],
    });
    expect(policy.snapshot()).toMatchObject({ failedAfterRetry: 1, retries: 2 });
  });

  it("retryOnResult returns the first value it accepts", async () => {
    const { clock, policy } = setup({ retryOnResult: (r) => r === "busy" });
    const values = ["busy", "done"];
    let calls = 0;
    const outcome = settle(policy.execute(() => values[calls++]!));
    await clock.advance(100);
    expect(await outcome).toEqual({ ok: true, value: "done" });
    expect(policy.snapshot()).toMatchObject({ successAfterRetry: 1, retries: 1 });
  });

  it("a Retry-After in delta-seconds replaces the backoff delay", async () => {
    const { clock, policy } = setup({ maxAttempts: 2, backoff: 100 });
    const op = failing(() =>
      Object.assign(new Error("503"), { status: 503, headers: { "retry-after": "3" } }),
    );
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(2999);
    expect(op.contexts.length).toBe(1);
    await clock.advance(1);
    expect(op.contexts.length).toBe(2);
    await outcome;
  });

  it("a Retry-After HTTP-date is measured on the wall clock", async () => {
    const wallNow = Date.UTC(2025, 0, 1, 12, 0, 0);
    const { clock, policy } = setup({ maxAttempts: 2, wallClock: () => wallNow });
    const headers = new Headers({ "retry-after": "Wed, 01 Jan 2025 12:00:02 GMT" });
    const op = failing(() => Object.assign(new Error("429"), { status: 429, headers }));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(1999);
    expect(op.contexts.length).toBe(1);
    await clock.advance(1);
    expect(op.contexts.length).toBe(2);
    await outcome;
  });

  it("a Retry-After longer than maxRetryAfter gives up at once instead of waiting", async () => {
    const { clock, policy } = setup({ maxRetryAfter: "30s" });
    const events = recordEvents(policy);
    const op = failing(() => Object.assign(new Error("503"), { headers: { "retry-after": "31" } }));
    const outcome = settle(policy.execute(op.operation));
    await clock.flush();
    expect(clock.pendingTimers).toBe(0);
    expect(await outcome).toEqual({ ok: false, error: op.errors[0] });
    expect(events).toMatchObject([{ type: "giveUp", attempts: 1, reason: "retryAfterTooLong" }]);
  });

  it("honours retryAfterMs of a RateLimitedError", async () => {
    const { clock, policy } = setup({ maxAttempts: 2 });
    const op = failing(() => new RateLimitedError("api", 40));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(39);
    expect(op.contexts.length).toBe(1);
    await clock.advance(1);
    expect(op.contexts.length).toBe(2);
    await outcome;
  });

  it("ignores Retry-After when honorRetryAfter is false", async () => {
    const { clock, policy } = setup({ maxAttempts: 2, honorRetryAfter: false });
    const op = failing(() => Object.assign(new Error("503"), { headers: { "retry-after": "60" } }));
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(100);
    expect(op.contexts.length).toBe(2);
    await outcome;
  });

  it("never sleeps past the deadline: gives up when the delay would not end before it", async () => {
    const { clock, policy } = setup({ maxAttempts: 5, backoff: 100 });
    const events = recordEvents(policy);
    const op = failing();
    const outcome = settle(policy.execute(op.operation, { deadline: Deadline.after(150, clock) }));
    await clock.advance(100);
    // At 100 ms, 50 ms are left: a 100 ms wait would end past the deadline.
    expect(await outcome).toEqual({ ok: false, error: op.errors[1] });
    expect(op.contexts.length).toBe(2);
    expect(clock.now()).toBe(100);
    expect(clock.pendingTimers).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: "giveUp", attempts: 2, reason: "deadline" });
  });

  it("gives up with reason budget and the last error when the retry budget refuses", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ clock, ratio: 0, minRetriesPerSecond: 0.1, window: "10s" });
    const policy = retry({ clock, backoff: 100, maxAttempts: 5, budget });
    const events = recordEvents(policy);
    const op = failing();
    const outcome = settle(policy.execute(op.operation));
    await clock.advance(1000);
    // The budget holds one retry (0.1 per second × 10 s): two attempts, then refusal.
    expect(await outcome).toEqual({ ok: false, error: op.errors[1] });
    expect(op.contexts.length).toBe(2);
    expect(events.at(-1)).toMatchObject({
      type: "giveUp",
      attempts: 2,
      reason: "budget",
      error: op.errors[1],
    });
    expect(policy.snapshot()).toMatchObject({ retries: 1, budgetRejections: 1, failedAfterRetry: 1 });
  });

  it("shares one retry budget between several retries", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ clock, ratio: 0, minRetriesPerSecond: 0.1, window: "10s" });
    const first = retry({ clock, backoff: 0, budget });
    const second = retry({ clock, backoff: 0, budget });
    const a = failing();
    const b = failing();
    await settle(first.execute(a.operation));
    await settle(second.execute(b.operation));
    expect(a.contexts.length + b.contexts.length).toBe(3);
    expect(first.snapshot().retries + second.snapshot().retries).toBe(1);
    expect(second.snapshot().budgetRejections).toBe(1);
  });

  it("records each call as a request in the budget, so traffic earns retries", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ clock, ratio: 0.5, minRetriesPerSecond: 0 });
    const policy = retry({ clock, backoff: 0, maxAttempts: 2, budget });
    await policy.execute(() => "ok");
    await policy.execute(() => "ok");
    expect(budget.snapshot()).toEqual({ requests: 2, retries: 0, available: 1 });
  });

  it("emits retry before each wait and one success or giveUp per call", async () => {
    const { clock, policy } = setup({ maxAttempts: 3 });
    const events = recordEvents(policy);
    let calls = 0;
    const boom = new Error("boom");
    const outcome = settle(
      policy.execute(() => (++calls < 3 ? Promise.reject(boom) : Promise.resolve(calls))),
    );
    await clock.advance(200);
    expect(await outcome).toEqual({ ok: true, value: 3 });
    await policy.execute(() => "fast");
    expect(events).toEqual([
      { type: "retry", name: "default", attempt: 1, delayMs: 100, error: boom },
      { type: "retry", name: "default", attempt: 2, delayMs: 100, error: boom },
      { type: "success", name: "default", attempts: 3 },
      { type: "success", name: "default", attempts: 1 },
    ]);
  });

  it("counts calls in its snapshot like Resilience4j's Retry metrics", async () => {
    const { clock, policy } = setup({
      name: "payments",
      maxAttempts: 2,
      retryOn: (e) => (e as Error).message !== "fatal",
    });
    const run = async (outcomes: (() => unknown)[]) => {
      let i = 0;
      const done = settle(policy.execute(() => outcomes[i++]!()));
      await clock.advance(100);
      return done;
    };
    const ok = () => "ok";
    const fail = () => Promise.reject(new Error("transient"));
    const fatal = () => Promise.reject(new Error("fatal"));
    await run([ok]);
    await run([fail, ok]);
    await run([fatal]);
    await run([fail, fail]);
    await run([fail, fatal]);
    expect(policy.snapshot()).toEqual({
      calls: 5,
      successWithoutRetry: 1,
      successAfterRetry: 1,
      failedWithoutRetry: 1,
      failedAfterRetry: 2,
      aborted: 0,
      retries: 3,
      budgetRejections: 0,
    });
  });

  it("a first attempt that succeeds starts no timer and takes nothing from the budget", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ clock, ratio: 0, minRetriesPerSecond: 1, window: "1s" });
    const policy = retry({ clock, budget });
    const pending = policy.execute(() => Promise.resolve(42));
    expect(clock.pendingTimers).toBe(0);
    expect(await pending).toBe(42);
    expect(await policy.execute(() => 7)).toBe(7);
    expect(budget.snapshot()).toEqual({ requests: 2, retries: 0, available: 1 });
    expect(policy.snapshot()).toMatchObject({ calls: 2, successWithoutRetry: 2, retries: 0 });
  });

  it("builds a backoff described as data", async () => {
    const { clock, policy } = setup({
      maxAttempts: 4,
      backoff: { type: "exponential", initialDelay: "50ms", multiplier: 3, maxDelay: "200ms" },
    });
    const events = recordEvents(policy);
    const outcome = settle(policy.execute(failing().operation));
    await clock.advance(1000);
    await outcome;
    expect(events.filter((e) => e.type === "retry").map((e) => e.type === "retry" && e.delayMs)).toEqual([
      50, 150, 200,
    ]);
  });

  it("rejects unknown options and bad values with the path of each", () => {
    expect(
      issuesOf({
        maxAttemps: 3,
        backoff: { type: "exponential", initialDelay: "1s", maxDelay: "10ms" },
        budget: { ratio: 2000 },
        maxRetryAfter: "soon",
        retryOn: true,
      }),
    ).toEqual(["maxAttemps", "backoff.maxDelay", "retryOn", "maxRetryAfter", "budget.ratio"]);
    expect(issuesOf({ backoff: { type: "fibonacci" } })).toEqual(["backoff.type"]);
    expect(issuesOf({ backoff: { type: "constant", dleay: 5 } })).toEqual(["backoff.dleay"]);
    expect(issuesOf({ clock: {} })).toEqual(["clock"]);
  });

  it("parseRetryOptions reports exact paths under a prefix for named instances", () => {
    const reader = new ConfigReader();
    parseRetryOptions(
      { maxAttempts: 0, backoff: { type: "linear", step: "-1s" } },
      reader,
      "retry.instances.payments",
    );
    expect(reader.issues.map((i) => i.path)).toEqual([
      "retry.instances.payments.maxAttempts",
      "retry.instances.payments.backoff.step",
    ]);
  });
});
