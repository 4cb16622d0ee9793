import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TimerHandle } from "../src/clock.js";
import { ConfigReader } from "../src/config/config-reader.js";
import { Deadline } from "../src/deadline.js";
import { isFlotillaError } from "../src/errors.js";
import { Hedging, hedging } from "../src/hedging/hedging.js";
import type { HedgingEvent } from "../src/hedging/hedging-event.js";
import { parseHedgingOptions } from "../src/hedging/hedging-options.js";
import type { PolicyContext } from "../src/policy-context.js";
import { configIssues, FakeClock } from "../src/testing/index.js";

/** A FakeClock that counts the timers set and cleared. */
class CountingClock extends FakeClock {
  sets = 0;
  clears = 0;

  override setTimeout(callback: () => void, ms: number): TimerHandle {
    this.sets++;
    return super.setTimeout(callback, ms);
  }

  override clearTimeout(handle: TimerHandle): void {
    this.clears++;
    super.clearTimeout(handle);
  }
}

interface Attempt<T> {
  readonly ctx: PolicyContext;
  readonly startedAt: number;
  /** The attempt's signal, read when the operation started (undefined if not read). */
  readonly signal: AbortSignal | undefined;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** An operation whose attempts the test settles by hand. */
function controlled<T>(clock: FakeClock, options: { readSignal?: boolean } = {}) {
  const attempts: Attempt<T>[] = [];
  const operation = vi.fn(
    (ctx: PolicyContext) =>
      new Promise<T>((resolve, reject) => {
        const signal = options.readSignal ? ctx.signal : undefined;
        attempts.push({ ctx, startedAt: clock.now(), signal, resolve, reject });
      }),
  );
  return { attempts, operation };
}

function record(policy: Hedging): HedgingEvent[] {
  const events: HedgingEvent[] = [];
  policy.events.subscribe((e) => events.push(e));
  return events;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("hedging", () => {
  describe("fast path", () => {
    it("sets and clears exactly one timer when attempt 1 settles before the delay", async () => {
      const clock = new CountingClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 2 });
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(49);
      attempts[0]!.resolve("first");
      await expect(result).resolves.toBe("first");
      expect(operation).toHaveBeenCalledTimes(1);
      expect({ sets: clock.sets, clears: clock.clears, pending: clock.pendingTimers }).toEqual({
        sets: 1,
        clears: 1,
        pending: 0,
      });
      expect(policy.snapshot()).toMatchObject({ calls: 1, hedgedAttempts: 0, firstAttemptWins: 1 });
    });

    it("sets no timer when the operation returns synchronously", async () => {
      const clock = new CountingClock();
      const policy = hedging({ clock, delay: "50ms" });
      await expect(policy.execute(() => 7)).resolves.toBe(7);
      expect(clock.sets).toBe(0);
    });

    it("creates an AbortController only for an attempt that reads its signal", async () => {
      let created = 0;
      vi.stubGlobal(
        "AbortController",
        class extends AbortController {
          constructor() {
            super();
            created++;
          }
        },
      );
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms" });
      const caller = new AbortController();
      created = 0;
      await policy.execute(() => Promise.resolve("no signal read"), { signal: caller.signal });
      expect(created).toBe(0);
      await policy.execute((ctx) => Promise.resolve(ctx.signal));
      expect(created).toBe(1);
    });
  });

  describe("hedged attempts", () => {
    it("starts attempt 2 after the delay with attempt 2 in its context", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 2 });
      const events = record(policy);
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(49);
      expect(attempts).toHaveLength(1);
      await clock.advance(1);
      expect(attempts.map((a) => [a.ctx.attempt, a.startedAt])).toEqual([
        [1, 0],
        [2, 50],
      ]);
      expect(events).toEqual([{ type: "hedge", name: "default", attempt: 2, trigger: "delay" }]);
      attempts[1]!.resolve("second");
      await expect(result).resolves.toBe("second");
    });

    it("gives each attempt a signal of its own", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: 10 });
      const { attempts, operation } = controlled<string>(clock, { readSignal: true });
      const caller = new AbortController();
      const result = policy.execute(operation, { signal: caller.signal });
      await clock.advance(10);
      const [first, second] = attempts;
      expect(first!.signal).toBeInstanceOf(AbortSignal);
      expect(second!.signal).toBeInstanceOf(AbortSignal);
      expect(first!.signal).not.toBe(second!.signal);
      expect(first!.signal).not.toBe(caller.signal);
      first!.resolve("x");
      await result;
    });

    it("carries the caller's deadline and key to every attempt", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: 10 });
      const { attempts, operation } = controlled<string>(clock);
      const deadline = Deadline.after(1000, clock);
      const result = policy.execute(operation, { deadline, key: "k" });
      await clock.advance(10);
      expect(attempts.map((a) => [a.ctx.deadline, a.ctx.key])).toEqual([
        [deadline, "k"],
        [deadline, "k"],
      ]);
      attempts[0]!.resolve("x");
      await result;
    });

    it("lets the first success win and aborts the other attempts as lost", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 3 });
      const events = record(policy);
      const { attempts, operation } = controlled<string>(clock, { readSignal: true });
      const result = policy.execute(operation);
      await clock.advance(100);
      attempts[1]!.resolve("second");
      await expect(result).resolves.toBe("second");
      const reason = attempts[0]!.signal!.reason as Error & { code: string };
      expect(attempts[0]!.signal!.aborted).toBe(true);
      expect(isFlotillaError(reason) && reason.code).toBe("FLT_HEDGE_LOST");
      expect(attempts[2]!.signal!.reason).toBe(reason);
      expect(attempts[1]!.signal!.aborted).toBe(false);
      expect(events.at(-1)).toEqual({ type: "success", name: "default", attempt: 2 });
      expect(policy.snapshot()).toMatchObject({ hedgedAttempts: 2, hedgeWins: 1, firstAttemptWins: 0 });
      expect(clock.pendingTimers).toBe(0);
    });

    it("ignores the outcomes of attempts after the call settled", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 3 });
      const events = record(policy);
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(100);
      attempts[0]!.resolve("first");
      attempts[1]!.resolve("late success");
      attempts[2]!.reject(new Error("late failure"));
      await expect(result).resolves.toBe("first");
      await clock.flush();
      expect(events.filter((e) => e.type !== "hedge")).toEqual([
        { type: "success", name: "default", attempt: 1 },
      ]);
    });

    it("starts no more than maxAttempts attempts", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 3 });
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(100);
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(1000);
      expect(attempts.map((a) => a.startedAt)).toEqual([0, 50, 100]);
      attempts[2]!.resolve("third");
      await expect(result).resolves.toBe("third");
    });

    it("takes the delay from a function of the attempt about to start", async () => {
      const clock = new FakeClock();
      const delay = vi.fn((attempt: number) => attempt * 100);
      const policy = hedging({ clock, delay, maxAttempts: 3 });
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(1000);
      expect(delay.mock.calls).toEqual([[2], [3]]);
      expect(attempts.map((a) => a.startedAt)).toEqual([0, 200, 500]);
      attempts[0]!.resolve("x");
      await result;
    });

    it("starts every attempt at once with a delay of 0", async () => {
      const clock = new CountingClock();
      const policy = hedging({ clock, delay: 0, maxAttempts: 3 });
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      expect(attempts.map((a) => a.ctx.attempt)).toEqual([1, 2, 3]);
      expect(clock.sets).toBe(0);
      attempts[2]!.resolve("third");
      await expect(result).resolves.toBe("third");
    });
  });

  describe("failed attempts", () => {
    it("starts the next attempt at once when one fails before the delay", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 3 });
      const events = record(policy);
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(10);
      const error = new Error("503");
      attempts[0]!.reject(error);
      await clock.flush();
      expect(attempts.map((a) => a.startedAt)).toEqual([0, 10]);
      expect(events).toEqual([
        { type: "error", name: "default", attempt: 1, error },
        { type: "hedge", name: "default", attempt: 2, trigger: "failure" },
      ]);
      await clock.advance(49);
      expect(attempts).toHaveLength(2);
      await clock.advance(1);
      expect(attempts.map((a) => a.startedAt)).toEqual([0, 10, 60]);
      attempts[1]!.resolve("second");
      await expect(result).resolves.toBe("second");
    });

    it("treats a synchronous throw as a failed attempt", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms" });
      const operation = vi.fn((ctx: PolicyContext) => {
        if (ctx.attempt === 1) throw new Error("sync");
        return "second";
      });
      await expect(policy.execute(operation)).resolves.toBe("second");
      expect(clock.pendingTimers).toBe(0);
    });

    it("fails at once with an error that shouldHedgeOn declines and aborts the other attempts", async () => {
      const clock = new FakeClock();
      const notFound = Object.assign(new Error("404"), { status: 404 });
      const policy = hedging({
        clock,
        delay: "50ms",
        maxAttempts: 3,
        shouldHedgeOn: (e) => (e as { status?: number }).status !== 404,
      });
      const { attempts, operation } = controlled<string>(clock, { readSignal: true });
      const result = policy.execute(operation);
      await clock.advance(50);
      attempts[1]!.reject(notFound);
      await expect(result).rejects.toBe(notFound);
      expect(attempts[0]!.signal!.aborted).toBe(true);
      expect(attempts).toHaveLength(2);
      expect(clock.pendingTimers).toBe(0);
      expect(policy.snapshot()).toMatchObject({ failures: 1 });
    });

    it("rejects with the last error when every attempt fails", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 3 });
      const events = record(policy);
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(100);
      attempts[2]!.reject(new Error("third"));
      attempts[0]!.reject(new Error("first"));
      await clock.flush();
      const last = new Error("second");
      attempts[1]!.reject(last);
      await expect(result).rejects.toBe(last);
      expect(events.at(-1)).toEqual({ type: "failure", name: "default", attempts: 3, error: last });
      expect(clock.pendingTimers).toBe(0);
    });

    it("waits for the attempts still running when one fails and none is left to start", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 2 });
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      await clock.advance(50);
      attempts[0]!.reject(new Error("first"));
      await clock.advance(100);
      expect(attempts).toHaveLength(2);
      attempts[1]!.resolve("second");
      await expect(result).resolves.toBe("second");
    });

    it("hedges only on failure when the delay function returns Infinity", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: () => Number.POSITIVE_INFINITY, maxAttempts: 2 });
      const { attempts, operation } = controlled<string>(clock);
      const result = policy.execute(operation);
      expect(clock.pendingTimers).toBe(0);
      await clock.advance(60_000);
      expect(attempts).toHaveLength(1);
      attempts[0]!.reject(new Error("first"));
      await clock.flush();
      expect(attempts).toHaveLength(2);
      attempts[1]!.resolve("second");
      await expect(result).resolves.toBe("second");
    });
  });

  describe("caller abort", () => {
    it("rejects with the signal's reason without calling the operation when already aborted", async () => {
      const caller = new AbortController();
      const reason = new Error("gone");
      caller.abort(reason);
      const operation = vi.fn(() => "x");
      const policy = hedging({ clock: new FakeClock() });
      await expect(policy.execute(operation, { signal: caller.signal })).rejects.toBe(reason);
      expect(operation).not.toHaveBeenCalled();
      expect(policy.snapshot().calls).toBe(0);
    });

    it("aborts every attempt with the caller's reason and rejects with it", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms", maxAttempts: 3 });
      const events = record(policy);
      const { attempts, operation } = controlled<string>(clock, { readSignal: true });
      const caller = new AbortController();
      const result = policy.execute(operation, { signal: caller.signal });
      await clock.advance(50);
      const reason = new Error("gone");
      caller.abort(reason);
      await expect(result).rejects.toBe(reason);
      expect(attempts.map((a) => a.signal!.reason)).toEqual([reason, reason]);
      expect(clock.pendingTimers).toBe(0);
      expect(policy.snapshot()).toMatchObject({ cancelled: 1, failures: 0 });
      expect(events.some((e) => e.type === "failure")).toBe(false);
      attempts[0]!.reject(reason);
      await clock.flush();
    });

    it("stops listening to the caller's signal once the call settled", async () => {
      const clock = new FakeClock();
      const policy = hedging({ clock, delay: "50ms" });
      const { attempts, operation } = controlled<string>(clock, { readSignal: true });
      const caller = new AbortController();
      const result = policy.execute(operation, { signal: caller.signal });
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(1);
      attempts[0]!.resolve("done");
      await result;
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
      caller.abort(new Error("after the fact"));
      expect(attempts[0]!.signal!.aborted).toBe(false);
      expect(policy.snapshot().cancelled).toBe(0);
    });
  });

  it("gives an already aborted signal to an operation that reads it after the call settled", async () => {
    const clock = new FakeClock();
    const policy = hedging({ clock, delay: 10 });
    const { attempts, operation } = controlled<string>(clock);
    const result = policy.execute(operation);
    await clock.advance(10);
    attempts[1]!.resolve("second");
    await result;
    expect(attempts[0]!.ctx.signal!.aborted).toBe(true);
  });

  describe("configuration", () => {
    it("refuses maxAttempts outside 1 to 10 and a bad delay, each at its path", () => {
      expect(configIssues(() => new Hedging({ maxAttempts: 0, delay: "soon" }))).toEqual([
        'delay: expected a duration such as "250ms", "5s", "1m30s" or milliseconds, got "soon"',
        "maxAttempts: must be at least 1, got 0",
      ]);
      expect(configIssues(() => hedging({ maxAttempts: 11 }))).toEqual([
        "maxAttempts: must be at most 10, got 11",
      ]);
      expect(configIssues(() => hedging({ maxAttempts: 1.5 }))).toEqual([
        "maxAttempts: expected a whole number, got 1.5",
      ]);
    });

    it("rejects unknown keys", () => {
      expect(configIssues(() => hedging({ maxAttempt: 2 } as never))).toEqual([
        "maxAttempt: unknown option; expected one of name, clock, delay, maxAttempts, shouldHedgeOn",
      ]);
    });

    it("reports exact paths under a prefix and passes functions through", () => {
      const reader = new ConfigReader();
      const shouldHedgeOn = (): boolean => true;
      const resolved = parseHedgingOptions(
        { delay: -5, shouldHedgeOn, maxAttempts: "2" },
        reader,
        "hedging.instances.search",
      );
      expect(reader.issues.map((i) => i.path)).toEqual([
        "hedging.instances.search.delay",
        "hedging.instances.search.maxAttempts",
      ]);
      expect(resolved.shouldHedgeOn).toBe(shouldHedgeOn);
    });

    it("defaults to a 2 s delay and 2 attempts", () => {
      const resolved = parseHedgingOptions({}, new ConfigReader(), "");
      expect([resolved.delay, resolved.maxAttempts, resolved.name]).toEqual([2000, 2, "default"]);
    });
  });
});
