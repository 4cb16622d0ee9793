import type { Clock } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import type { Deadline } from "../deadline.js";
import type { Duration } from "../duration.js";
import { RateLimitedError } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import type { RateLimiterEvent } from "./rate-limiter-event.js";
import { parseRateLimiterOptions, type RateLimiterOptions } from "./rate-limiter-options.js";

/** Numbers for metrics, as Resilience4j's `RateLimiter.Metrics`. */
export interface RateLimiterSnapshot {
  /** Permits left in the current cycle; negative while callers hold reservations on future cycles. */
  readonly availablePermissions: number;
  /** Callers waiting for a reserved permit. */
  readonly waitingThreads: number;
  /** Callers refused since the limiter was created. */
  readonly rejected: number;
  /** Permits per cycle currently configured. */
  readonly limitForPeriod: number;
}

const resolved: Promise<void> = Promise.resolve();

/**
 * A rate limiter with the semantics of Resilience4j's `AtomicRateLimiter`: time since the
 * limiter was created is cut into cycles of `limitRefreshPeriod`, each starting with
 * `limitForPeriod` permits (unused permits do not carry over).
 *
 * A caller without a permit in the current cycle may reserve one of a future cycle when the wait
 * for it is at most `timeoutDuration` (and within the call's deadline, if it carries one): the
 * available permissions go negative, exactly like `AtomicRateLimiter`'s reservations, and the
 * caller waits on the clock until that cycle starts. Otherwise it is refused at once with a
 * {@link RateLimitedError} carrying the wait it would have needed — unlike Resilience4j, which
 * parks a refused thread for the whole timeout first. As in Resilience4j, a reservation of several
 * permits may take what is left of the current cycle and use it when the next cycle starts.
 *
 * Unlike `AtomicRateLimiter`, which loses the permit of an interrupted thread, a waiter whose
 * signal aborts gives its reserved permit back (never above `limitForPeriod`): the call never
 * ran, so it should not spend the budget of callers behind it.
 *
 * A caller that gets a permit at once costs no timer, no promise of the limiter's own and no
 * event object unless someone listens.
 *
 * ```ts
 * const limiter = rateLimiter({ limitForPeriod: 10, limitRefreshPeriod: "1s", timeoutDuration: "500ms" });
 * const page = await limiter.execute(({ signal }) => fetchPage(signal), { signal });
 * ```
 */
export class RateLimiter implements Policy {
  /** Appears in errors and events. */
  readonly name: string;
  /** `successfulAcquire`, `failedAcquire` and `drained` events. */
  readonly events = new EventStream<RateLimiterEvent>();
  /** Length of a cycle in milliseconds. */
  readonly limitRefreshPeriodMs: number;
  readonly #clock: Clock;
  readonly #start: number;
  #limit: number;
  #timeoutMs: number;
  #cycle = 0;
  #nextCycleAt: number;
  #permissions: number;
  #waiting = 0;
  #rejected = 0;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: RateLimiterOptions = {}) {
    const reader = new ConfigReader();
    const resolvedOptions = parseRateLimiterOptions(options, reader, "");
    reader.throwIfInvalid();
    this.name = resolvedOptions.name;
    this.limitRefreshPeriodMs = resolvedOptions.limitRefreshPeriodMs;
    this.#clock = resolvedOptions.clock;
    this.#limit = resolvedOptions.limitForPeriod;
    this.#timeoutMs = resolvedOptions.timeoutDurationMs;
    this.#permissions = this.#limit;
    this.#start = this.#clock.now();
    this.#nextCycleAt = this.#start + this.limitRefreshPeriodMs;
  }

  /** Permits per cycle currently configured. */
  get limitForPeriod(): number {
    return this.#limit;
  }

  /** How long a caller may currently wait for a permit, in milliseconds. */
  get timeoutDurationMs(): number {
    return this.#timeoutMs;
  }

  /**
   * Runs `operation` with one permit: at once when the current cycle has one, after waiting for a
   * reserved permit of a future cycle when that wait fits the timeout and the context's deadline,
   * otherwise rejects with {@link RateLimitedError} without calling it. An already aborted signal
   * rejects with its reason and takes no permit; an abort during the wait gives the permit back.
   */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    const signal = context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const wait = this.#msToWait(1);
    if (wait === 0) {
      this.#permissions -= 1;
      if (this.events.active) this.#emitAcquired(1, 0);
      return run(operation, context);
    }
    return this.#reserveAndWait(1, wait, signal, context.deadline).then(() => operation(context));
  }

  /**
   * Takes `permits`, waiting for a reservation as {@link RateLimiter.execute} does. Resolves once
   * the permits are the caller's; rejects with {@link RateLimitedError} when they are not
   * available within the timeout, or with the signal's reason when `signal` aborts first.
   */
  acquirePermission(permits = 1, signal?: AbortSignal): Promise<void> {
    if (!isPermitCount(permits)) return Promise.reject(permitCountError(permits));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const wait = this.#msToWait(permits);
    if (wait === 0) {
      this.#permissions -= permits;
      if (this.events.active) this.#emitAcquired(permits, 0);
      return resolved;
    }
    return this.#reserveAndWait(permits, wait, signal, undefined);
  }

  /** Takes `permits` if the current cycle still has them; never waits and never reserves. */
  tryAcquirePermission(permits = 1): boolean {
    if (!isPermitCount(permits)) throw permitCountError(permits);
    const wait = this.#msToWait(permits);
    if (wait === 0) {
      this.#permissions -= permits;
      if (this.events.active) this.#emitAcquired(permits, 0);
      return true;
    }
    this.#refuse(permits, wait);
    return false;
  }

  /**
   * Resilience4j's `reservePermission`: takes `permits` now or reserves them in a future cycle
   * and returns how many milliseconds the caller must wait before using them (0 for now), or -1
   * when that wait would exceed the timeout (nothing is reserved then). The caller does the
   * waiting; a reservation made here cannot be given back.
   */
  reservePermission(permits = 1): number {
    if (!isPermitCount(permits)) throw permitCountError(permits);
    const wait = this.#msToWait(permits);
    if (wait > this.#timeoutMs) {
      this.#refuse(permits, wait);
      return -1;
    }
    this.#permissions -= permits;
    if (this.events.active) this.#emitAcquired(permits, wait);
    return wait;
  }

  /** Takes every permit left in the current cycle; reservations already made stand. */
  drainPermissions(): void {
    this.#refresh(this.#clock.now());
    const drained = Math.max(this.#permissions, 0);
    this.#permissions -= drained;
    if (this.events.active) this.events.emit({ type: "drained", name: this.name, permits: drained });
  }

  /** Changes the permits per cycle, from the next cycle on; the current cycle keeps what it has. */
  changeLimitForPeriod(limitForPeriod: number): void {
    const reader = new ConfigReader();
    const limit = reader.number({ limitForPeriod }, "limitForPeriod", "", 0, { integer: true, min: 1 });
    reader.throwIfInvalid();
    // Settle the cycles elapsed so far under the old limit before the new one applies.
    this.#refresh(this.#clock.now());
    this.#limit = limit;
  }

  /** Changes how long later callers may wait for a permit; callers already waiting are unaffected. */
  changeTimeoutDuration(timeoutDuration: Duration): void {
    const reader = new ConfigReader();
    const ms = reader.duration({ timeoutDuration }, "timeoutDuration", "", 0);
    reader.throwIfInvalid();
    this.#timeoutMs = ms;
  }

  /** Current numbers for metrics. */
  snapshot(): RateLimiterSnapshot {
    this.#refresh(this.#clock.now());
    return {
      availablePermissions: this.#permissions,
      waitingThreads: this.#waiting,
      rejected: this.#rejected,
      limitForPeriod: this.#limit,
    };
  }

  #refresh(now: number): void {
    if (now < this.#nextCycleAt) return;
    const period = this.limitRefreshPeriodMs;
    const cycle = Math.floor((now - this.#start) / period);
    if (cycle > this.#cycle) {
      const refilled = this.#permissions + (cycle - this.#cycle) * this.#limit;
      this.#permissions = Math.min(refilled, this.#limit);
      this.#cycle = cycle;
    }
    this.#nextCycleAt = this.#start + (this.#cycle + 1) * period;
  }

  /** Milliseconds until `permits` are available, counting reservations; 0 when they are now. */
  #msToWait(permits: number): number {
    const now = this.#clock.now();
    this.#refresh(now);
    const available = this.#permissions;
    if (available >= permits) return 0;
    const limit = this.#limit;
    const fullCycles = Math.ceil((permits - available - limit) / limit);
    return (fullCycles > 0 ? fullCycles * this.limitRefreshPeriodMs : 0) + (this.#nextCycleAt - now);
  }

  #reserveAndWait(
    permits: number,
    wait: number,
    signal: AbortSignal | undefined,
    deadline: Deadline | undefined,
  ): Promise<void> {
    let budget = this.#timeoutMs;
    if (deadline !== undefined) {
      const left = deadline.remaining();
      if (left < budget) budget = left;
    }
    if (wait > budget) {
      this.#refuse(permits, wait);
      return Promise.reject(new RateLimitedError(this.name, wait));
    }
    this.#permissions -= permits;
    this.#waiting++;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#clock.clearTimeout(timer);
        this.#waiting--;
        this.#giveBack(permits);
        if (this.events.active) {
          this.events.emit({
            type: "failedAcquire",
            name: this.name,
            permits,
            reason: "aborted",
            retryAfterMs: Math.max(0, until - this.#clock.now()),
          });
        }
        reject(signal!.reason);
      };
      const until = this.#clock.now() + wait;
      const onTime = () => {
        // libuv starts a timer from a loop time cached up to a millisecond before now, so it can fire
        // early: wait out the rest rather than start before the reserved cycle, as Resilience4j re-parks.
        const left = until - this.#clock.now();
        if (left > 0) {
          timer = this.#clock.setTimeout(onTime, Math.ceil(left));
          return;
        }
        this.#waiting--;
        signal?.removeEventListener("abort", onAbort);
        if (this.events.active) this.#emitAcquired(permits, wait);
        resolve();
      };
      let timer = this.#clock.setTimeout(onTime, Math.ceil(wait));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #giveBack(permits: number): void {
    this.#refresh(this.#clock.now());
    const restored = this.#permissions + permits;
    this.#permissions = Math.min(restored, this.#limit);
  }

  #refuse(permits: number, wait: number): void {
    this.#rejected++;
    if (this.events.active) {
      this.events.emit({
        type: "failedAcquire",
        name: this.name,
        permits,
        reason: "rejected",
        retryAfterMs: wait,
      });
    }
  }

  #emitAcquired(permits: number, waitedMs: number): void {
    this.events.emit({ type: "successfulAcquire", name: this.name, permits, waitedMs });
  }
}

/** Creates a {@link RateLimiter} (Resilience4j semantics: permits per fixed cycle, with reservations). */
export function rateLimiter(options?: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}

function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
  try {
    return Promise.resolve(operation(context)) as Promise<T>;
  } catch (error) {
    return Promise.reject(error);
  }
}

function isPermitCount(permits: number): boolean {
  return Number.isInteger(permits) && permits >= 1;
}

function permitCountError(permits: number): RangeError {
  return new RangeError(`permits must be a whole number of at least 1, got ${permits}`);
}
