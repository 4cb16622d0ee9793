import type { Clock, TimerHandle } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import { BreakerOpenError, IllegalStateTransitionError } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import type { BreakerEvent } from "./breaker-event.js";
import type { BreakerPermit } from "./breaker-permit.js";
import { BreakerState } from "./breaker-state.js";
import type { CallOutcome } from "./call-outcome.js";
import type { CircuitBreakerJSON } from "./circuit-breaker-json.js";
import {
  type CircuitBreakerOptions,
  parseCircuitBreakerOptions,
  type ResolvedCircuitBreakerOptions,
} from "./circuit-breaker-options.js";
import type { CircuitBreakerSnapshot } from "./circuit-breaker-snapshot.js";
import { CountWindow } from "./count-window.js";
import { SlidingWindowType } from "./sliding-window.js";
import { TimeWindow } from "./time-window.js";

const { CLOSED, OPEN, HALF_OPEN, DISABLED, FORCED_OPEN, METRICS_ONLY } = BreakerState;

/**
 * A circuit breaker with Resilience4j's semantics
 * (https://resilience4j.readme.io/docs/circuitbreaker): a count- or time-based sliding window of
 * outcomes, failure-rate and slow-call-rate thresholds, a fixed number of half-open probes, and
 * the manual states `DISABLED`, `FORCED_OPEN` and `METRICS_ONLY`. A manual transition to the
 * current state has no effect, as Resilience4j documents.
 *
 * @example
 * ```ts
 * const breaker = circuitBreaker({ name: "payments", slidingWindowSize: 20, waitDurationInOpenState: "10s" });
 * const receipt = await breaker.execute(({ signal }) => charge(order, { signal }));
 * ```
 */
export class CircuitBreaker implements Policy {
  /** Appears in errors and events. */
  readonly name: string;
  /** The validated options. */
  readonly options: ResolvedCircuitBreakerOptions;
  /** State transitions, call outcomes, rejections and threshold crossings. */
  readonly events: EventStream<BreakerEvent> = new EventStream<BreakerEvent>();

  readonly #clock: Clock;
  readonly #closedWindow: CountWindow | TimeWindow;
  readonly #halfOpenWindow: CountWindow;
  readonly #minimumCalls: number;
  readonly #failureRateThreshold: number;
  readonly #slowCallRateThreshold: number;
  readonly #slowCallDurationThreshold: number;
  readonly #permittedHalfOpen: number;
  readonly #maxHalfOpenWait: number;
  readonly #waitDuration: number;
  readonly #waitFunction: ((openAttempt: number) => number) | undefined;
  readonly #autoHalfOpen: boolean;
  readonly #ignoreExceptions: ((error: unknown) => boolean) | undefined;
  readonly #recordExceptions: ((error: unknown) => boolean) | undefined;
  readonly #recordResult: ((result: unknown) => boolean) | undefined;
  /** Whether every call needs a start and an end reading to detect slowness. */
  readonly #timed: boolean;

  #state: BreakerState = CLOSED;
  /** Bumped on every transition; a permit from an older generation is never recorded. */
  #generation = 1;
  #window: CountWindow | TimeWindow;
  #windowMinimum: number;
  #inFlight = 0;
  #notPermitted = 0;
  #openAttempts = 0;
  #openedAt = 0;
  #waitMs = 0;
  #halfOpenedAt = 0;
  #permitsLeft = 0;
  #timer: TimerHandle | undefined;
  #failureRateReported = false;
  #slowCallRateReported = false;
  #retryAfterMs: number | undefined;
  /** Shared settle callbacks of the current generation, so an untimed call allocates no closure. */
  #onFulfilled!: (value: unknown) => unknown;
  #onRejected!: (error: unknown) => never;

  constructor(options: CircuitBreakerOptions = {}) {
    const reader = new ConfigReader();
    const o = parseCircuitBreakerOptions(options, reader, "");
    reader.throwIfInvalid();
    this.options = o;
    this.name = o.name;
    this.#clock = o.clock;
    const countBased = o.slidingWindowType === SlidingWindowType.COUNT_BASED;
    this.#closedWindow = countBased
      ? new CountWindow(o.slidingWindowSize)
      : new TimeWindow(o.slidingWindowSize);
    this.#halfOpenWindow = new CountWindow(o.permittedNumberOfCallsInHalfOpenState);
    this.#minimumCalls = countBased
      ? Math.min(o.minimumNumberOfCalls, o.slidingWindowSize)
      : o.minimumNumberOfCalls;
    this.#failureRateThreshold = o.failureRateThreshold;
    this.#slowCallRateThreshold = o.slowCallRateThreshold;
    this.#slowCallDurationThreshold = o.slowCallDurationThreshold;
    this.#permittedHalfOpen = o.permittedNumberOfCallsInHalfOpenState;
    this.#maxHalfOpenWait = o.maxWaitDurationInHalfOpenState;
    this.#waitDuration = o.waitDurationInOpenState;
    this.#waitFunction = o.waitIntervalFunctionInOpenState;
    this.#autoHalfOpen = o.automaticTransitionFromOpenToHalfOpenEnabled;
    this.#ignoreExceptions = o.ignoreExceptions;
    this.#recordExceptions = o.recordExceptions;
    this.#recordResult = o.recordResult;
    this.#timed = o.slowCallDurationThreshold !== Number.POSITIVE_INFINITY;
    this.#window = this.#closedWindow;
    this.#windowMinimum = this.#minimumCalls;
    this.#bindHandlers();
    if (o.restore !== undefined) this.#restore(o.restore);
  }

  /** Rebuilds a breaker from {@link CircuitBreaker.toJSON}'s snapshot, with `options` as its configuration. */
  static restore(json: CircuitBreakerJSON, options: CircuitBreakerOptions = {}): CircuitBreaker {
    return new CircuitBreaker({ ...options, restore: json });
  }

  /** The current state. `OPEN` turns into `HALF_OPEN` only when a call arrives (or on the timer, if enabled). */
  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Runs `operation` if the breaker permits it, records its outcome and returns its result. A
   * rejected call fails with {@link BreakerOpenError} without running the operation.
   */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    const signal = context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#state !== CLOSED && !this.#acquire()) return Promise.reject(this.#openError());
    this.#inFlight++;
    const generation = this.#generation;
    if (this.#timed || this.events.active) {
      return this.#run(operation, context, generation, this.#clock.now());
    }
    if (signal != null) return this.#run(operation, context, generation, Number.NaN);
    const onFulfilled = this.#onFulfilled;
    const onRejected = this.#onRejected;
    let result: T | PromiseLike<T>;
    try {
      result = operation(context);
    } catch (error) {
      this.#settleError(error, generation, Number.NaN, undefined);
      return Promise.reject(error);
    }
    if (result instanceof Promise) return result.then(onFulfilled, onRejected) as Promise<T>;
    if (isThenable(result)) return Promise.resolve(result).then(onFulfilled, onRejected) as Promise<T>;
    this.#settleValue(result, generation, Number.NaN);
    return Promise.resolve(result);
  }

  /**
   * Asks for permission to make one call, for callers that cannot hand over a function (a proxy
   * that streams). Returns a permit to pass back exactly once, or undefined when the call is not
   * permitted (counted and reported like a rejected `execute`).
   */
  tryAcquirePermission(): BreakerPermit | undefined {
    if (this.#state !== CLOSED && !this.#acquire()) return undefined;
    this.#inFlight++;
    return this.#generation as BreakerPermit;
  }

  /** Like {@link CircuitBreaker.tryAcquirePermission}, but throws {@link BreakerOpenError} when not permitted. */
  acquirePermission(): BreakerPermit {
    const permit = this.tryAcquirePermission();
    if (permit === undefined) throw this.#openError();
    return permit;
  }

  /** Hands back a permit whose call was never made or was cancelled; nothing is recorded. */
  releasePermission(permit: BreakerPermit): void {
    this.#inFlight--;
    this.#release(permit);
  }

  /** Records a successful call that took `durationMs`. */
  onSuccess(durationMs: number, permit: BreakerPermit): void {
    this.#inFlight--;
    this.#completeValue(undefined, false, permit, durationMs, Number.NaN);
  }

  /** Records a call that returned `result`, which `recordResult` may classify as a failure. */
  onResult(durationMs: number, result: unknown, permit: BreakerPermit): void {
    this.#inFlight--;
    this.#completeValue(result, true, permit, durationMs, Number.NaN);
  }

  /** Records a call that failed with `error`, classified by `ignoreExceptions` and `recordExceptions`. */
  onError(durationMs: number, error: unknown, permit: BreakerPermit): void {
    this.#inFlight--;
    this.#completeError(error, permit, durationMs, Number.NaN);
  }

  /** Closes the breaker with an empty window. */
  transitionToClosedState(): void {
    this.#manual(CLOSED);
  }

  /** Opens the breaker: it counts as one more consecutive opening for `waitIntervalFunctionInOpenState`. */
  transitionToOpenState(): void {
    this.#manual(OPEN);
  }

  /** Starts a round of half-open probes (not allowed from `CLOSED` or `METRICS_ONLY`). */
  transitionToHalfOpenState(): void {
    this.#manual(HALF_OPEN);
  }

  /** Lets every call through and records nothing until another manual transition. */
  transitionToDisabledState(): void {
    this.#manual(DISABLED);
  }

  /** Rejects every call until another manual transition. */
  transitionToForcedOpenState(): void {
    this.#manual(FORCED_OPEN);
  }

  /** Lets every call through, records metrics and emits events, but never changes state by itself. */
  transitionToMetricsOnlyState(): void {
    this.#manual(METRICS_ONLY);
  }

  /** Returns to `CLOSED` with empty metrics and no opening counted, from any state. */
  reset(): void {
    const from = this.#state;
    this.#enter(CLOSED, Number.NaN);
    if (this.events.active) {
      if (from !== CLOSED) this.events.emit({ type: "stateTransition", name: this.name, from, to: CLOSED });
      this.events.emit({ type: "reset", name: this.name });
    }
  }

  /** The metrics of the window in use, as plain numbers. */
  snapshot(): CircuitBreakerSnapshot {
    const w = this.#window;
    if (w.timeBased) w.moveTo(this.#clock.now());
    const calls = w.calls;
    const measured = calls > 0 && calls >= this.#windowMinimum;
    return {
      state: this.#state,
      failureRate: measured ? (w.failed * 100) / calls : -1,
      slowCallRate: measured ? (w.slow * 100) / calls : -1,
      bufferedCalls: calls,
      failedCalls: w.failed,
      slowCalls: w.slow,
      slowFailedCalls: w.slowFailed,
      slowSuccessfulCalls: w.slow - w.slowFailed,
      successfulCalls: calls - w.failed,
      notPermittedCalls: this.#notPermitted,
      inFlight: this.#inFlight,
    };
  }

  /** The breaker's state as plain data, for {@link CircuitBreaker.restore}. Calls in flight are not part of it. */
  toJSON(): CircuitBreakerJSON {
    const now = this.#clock.now();
    return {
      version: 1,
      name: this.name,
      state: this.#state,
      savedAt: now,
      openAttempts: this.#openAttempts,
      openedAt: this.#openedAt,
      waitMs: this.#waitMs,
      halfOpenedAt: this.#halfOpenedAt,
      notPermittedCalls: this.#notPermitted,
      windowInUse: this.#window === this.#halfOpenWindow ? "halfOpen" : "closed",
      window: this.#closedWindow.toJSON(now),
      halfOpenWindow: this.#halfOpenWindow.toJSON(),
      metricsOnlyExceeded: {
        failureRate: this.#failureRateReported,
        slowCallRate: this.#slowCallRateReported,
      },
    };
  }

  #run<T>(operation: Operation<T>, context: PolicyContext, generation: number, start: number): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = operation(context);
    } catch (error) {
      this.#settleError(error, generation, start, context);
      return Promise.reject(error);
    }
    let promise: Promise<T>;
    if (result instanceof Promise) promise = result;
    else if (isThenable(result)) promise = Promise.resolve(result);
    else {
      this.#settleValue(result, generation, start);
      return Promise.resolve(result);
    }
    return promise.then(
      (value) => {
        this.#settleValue(value, generation, start);
        return value;
      },
      (error: unknown) => {
        this.#settleError(error, generation, start, context);
        throw error;
      },
    );
  }

  #bindHandlers(): void {
    const generation = this.#generation;
    this.#onFulfilled = (value) => {
      this.#settleValue(value, generation, Number.NaN);
      return value;
    };
    this.#onRejected = (error) => {
      this.#settleError(error, generation, Number.NaN, undefined);
      throw error;
    };
  }

  /** `start` is NaN for an untimed call. */
  #settleValue(value: unknown, generation: number, start: number): void {
    this.#inFlight--;
    if (!Number.isNaN(start)) {
      const end = this.#clock.now();
      this.#completeValue(value, true, generation, end - start, end);
    } else {
      this.#completeValue(value, true, generation, 0, Number.NaN);
    }
  }

  #settleError(error: unknown, generation: number, start: number, context: PolicyContext | undefined): void {
    this.#inFlight--;
    if (context?.signal?.aborted) {
      this.#release(generation);
      return;
    }
    if (!Number.isNaN(start)) {
      const end = this.#clock.now();
      this.#completeError(error, generation, end - start, end);
    } else {
      this.#completeError(error, generation, 0, Number.NaN);
    }
  }

  /** `end` is the clock reading at completion, or NaN when none was taken. */
  #completeValue(
    value: unknown,
    checkResult: boolean,
    generation: number,
    durationMs: number,
    end: number,
  ): void {
    const recordResult = this.#recordResult;
    const failed =
      checkResult && recordResult !== undefined && test(recordResult, value, false, "recordResult");
    if (this.events.active && publishes(this.#state)) {
      this.events.emit(
        failed
          ? { type: "error", name: this.name, error: value, durationMs, fromResult: true }
          : { type: "success", name: this.name, durationMs },
      );
    }
    this.#record(generation, failed, durationMs, end);
  }

  #completeError(error: unknown, generation: number, durationMs: number, end: number): void {
    const ignore = this.#ignoreExceptions;
    if (ignore !== undefined && test(ignore, error, false, "ignoreExceptions")) {
      this.#release(generation);
      if (this.events.active && publishes(this.#state)) {
        this.events.emit({ type: "ignoredError", name: this.name, error, durationMs });
      }
      return;
    }
    const recordExceptions = this.#recordExceptions;
    const failed = recordExceptions === undefined || test(recordExceptions, error, true, "recordExceptions");
    if (this.events.active && publishes(this.#state)) {
      this.events.emit(
        failed
          ? { type: "error", name: this.name, error, durationMs, fromResult: false }
          : { type: "success", name: this.name, durationMs },
      );
    }
    this.#record(generation, failed, durationMs, end);
  }

  #record(generation: number, failed: boolean, durationMs: number, end: number): void {
    if (generation !== this.#generation) return;
    const state = this.#state;
    if (state !== CLOSED && state !== HALF_OPEN && state !== METRICS_ONLY) return;
    const window = this.#window;
    const outcome = ((failed ? 1 : 0) |
      (durationMs > this.#slowCallDurationThreshold ? 2 : 0)) as CallOutcome;
    window.record(outcome, window.timeBased ? (Number.isNaN(end) ? this.#clock.now() : end) : 0);
    if (window.calls >= this.#windowMinimum) this.#evaluate(state, window);
  }

  #evaluate(state: BreakerState, window: CountWindow | TimeWindow): void {
    const calls = window.calls;
    const failureRate = (window.failed * 100) / calls;
    const slowCallRate = (window.slow * 100) / calls;
    const failureExceeded = failureRate >= this.#failureRateThreshold;
    const slowExceeded = slowCallRate >= this.#slowCallRateThreshold;
    if (state === HALF_OPEN) {
      this.#transition(failureExceeded || slowExceeded ? OPEN : CLOSED, Number.NaN);
      return;
    }
    if (state === CLOSED) {
      if (!failureExceeded && !slowExceeded) return;
      if (this.events.active) {
        if (failureExceeded) this.events.emit({ type: "failureRateExceeded", name: this.name, failureRate });
        if (slowExceeded) this.events.emit({ type: "slowCallRateExceeded", name: this.name, slowCallRate });
      }
      this.#transition(OPEN, Number.NaN);
      return;
    }
    if (failureExceeded && !this.#failureRateReported) {
      this.#failureRateReported = true;
      if (this.events.active) this.events.emit({ type: "failureRateExceeded", name: this.name, failureRate });
    }
    if (slowExceeded && !this.#slowCallRateReported) {
      this.#slowCallRateReported = true;
      if (this.events.active)
        this.events.emit({ type: "slowCallRateExceeded", name: this.name, slowCallRate });
    }
  }

  /** Permission outside the `CLOSED` fast path; a refusal is counted and leaves `#retryAfterMs` set. */
  #acquire(): boolean {
    const state = this.#state;
    if (state === CLOSED || state === DISABLED || state === METRICS_ONLY) return true;
    if (state === FORCED_OPEN) {
      // Resilience4j counts a forced-open rejection but publishes no event for it.
      this.#notPermitted++;
      this.#retryAfterMs = undefined;
      return false;
    }
    if (state === OPEN) {
      const now = this.#clock.now();
      const remaining = this.#openedAt + this.#waitMs - now;
      if (remaining > 0) return this.#reject(remaining);
      this.#transition(HALF_OPEN, now);
    } else if (this.#maxHalfOpenWait > 0) {
      // The timer does this too; checking here keeps a clock that was moved without firing timers honest.
      const now = this.#clock.now();
      if (now - this.#halfOpenedAt >= this.#maxHalfOpenWait) {
        this.#transition(OPEN, now);
        return this.#reject(this.#waitMs);
      }
    }
    if (this.#permitsLeft > 0) {
      this.#permitsLeft--;
      return true;
    }
    return this.#reject(undefined);
  }

  #reject(retryAfterMs: number | undefined): false {
    this.#notPermitted++;
    this.#retryAfterMs = retryAfterMs;
    if (this.events.active) this.events.emit({ type: "notPermitted", name: this.name, state: this.#state });
    return false;
  }

  #openError(): BreakerOpenError {
    return new BreakerOpenError(this.name, this.#state, this.#retryAfterMs);
  }

  /** Gives a probe slot back when a call of the current half-open round records nothing. */
  #release(generation: number): void {
    if (generation === this.#generation && this.#state === HALF_OPEN) this.#permitsLeft++;
  }

  #manual(to: BreakerState): void {
    const from = this.#state;
    if (from === to) return;
    if (
      (from === CLOSED && to === HALF_OPEN) ||
      (from === METRICS_ONLY && (to === OPEN || to === HALF_OPEN))
    ) {
      throw new IllegalStateTransitionError(this.name, from, to);
    }
    this.#transition(to, Number.NaN);
  }

  /** `now` is a clock reading the caller already has, or NaN. */
  #transition(to: BreakerState, now: number): void {
    const from = this.#state;
    this.#enter(to, now);
    if (this.events.active) this.events.emit({ type: "stateTransition", name: this.name, from, to });
  }

  #enter(to: BreakerState, now: number): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#generation++;
    this.#state = to;
    switch (to) {
      case CLOSED:
      case DISABLED:
      case METRICS_ONLY:
        this.#openAttempts = 0;
        this.#failureRateReported = false;
        this.#slowCallRateReported = false;
        this.#useClosedWindow();
        break;
      case FORCED_OPEN:
        this.#openAttempts++;
        this.#useClosedWindow();
        break;
      case OPEN:
        this.#openAttempts++;
        this.#openedAt = Number.isNaN(now) ? this.#clock.now() : now;
        this.#waitMs = this.#waitFor(this.#openAttempts);
        if (this.#autoHalfOpen) this.#schedule(HALF_OPEN, this.#waitMs);
        break;
      case HALF_OPEN:
        this.#halfOpenWindow.reset();
        this.#window = this.#halfOpenWindow;
        this.#windowMinimum = this.#permittedHalfOpen;
        this.#permitsLeft = this.#permittedHalfOpen;
        this.#notPermitted = 0;
        this.#halfOpenedAt = Number.isNaN(now) ? this.#clock.now() : now;
        if (this.#maxHalfOpenWait > 0) this.#schedule(OPEN, this.#maxHalfOpenWait);
        break;
    }
    this.#bindHandlers();
  }

  #useClosedWindow(): void {
    this.#closedWindow.reset();
    this.#window = this.#closedWindow;
    this.#windowMinimum = this.#minimumCalls;
    this.#notPermitted = 0;
  }

  #schedule(to: BreakerState, ms: number): void {
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#transition(to, Number.NaN);
      },
      ms,
      true,
    );
  }

  #waitFor(openAttempt: number): number {
    const waitFunction = this.#waitFunction;
    if (waitFunction === undefined) return this.#waitDuration;
    let ms: number;
    try {
      ms = waitFunction(openAttempt);
    } catch (error) {
      warn("waitIntervalFunctionInOpenState", error);
      return this.#waitDuration;
    }
    return typeof ms === "number" && Number.isFinite(ms) && ms >= 0 ? ms : this.#waitDuration;
  }

  #restore(json: CircuitBreakerJSON): void {
    const now = this.#clock.now();
    const shift = now - json.savedAt;
    const closed = this.#closedWindow;
    if (closed instanceof CountWindow) {
      if (json.window.type === "COUNT_BASED") closed.load(json.window.outcomes);
    } else if (json.window.type === "TIME_BASED") {
      closed.load(json.window.buckets, now);
    }
    this.#halfOpenWindow.load(json.halfOpenWindow.outcomes);
    const state = json.state;
    this.#state = state;
    this.#generation++;
    this.#openAttempts = json.openAttempts;
    this.#openedAt = json.openedAt + shift;
    this.#waitMs = json.waitMs;
    this.#halfOpenedAt = json.halfOpenedAt + shift;
    this.#notPermitted = json.notPermittedCalls;
    this.#failureRateReported = json.metricsOnlyExceeded.failureRate;
    this.#slowCallRateReported = json.metricsOnlyExceeded.slowCallRate;
    const halfOpenWindow = state === HALF_OPEN || (state === OPEN && json.windowInUse === "halfOpen");
    this.#window = halfOpenWindow ? this.#halfOpenWindow : closed;
    this.#windowMinimum = halfOpenWindow ? this.#permittedHalfOpen : this.#minimumCalls;
    this.#bindHandlers();
    if (state === HALF_OPEN) {
      // Probes that were in flight when the snapshot was taken will never report: their slots return.
      this.#permitsLeft = Math.max(0, this.#permittedHalfOpen - this.#halfOpenWindow.calls);
      if (this.#halfOpenWindow.calls >= this.#permittedHalfOpen) {
        this.#evaluate(HALF_OPEN, this.#halfOpenWindow);
      } else if (this.#maxHalfOpenWait > 0) {
        this.#schedule(OPEN, Math.max(0, this.#maxHalfOpenWait - (now - this.#halfOpenedAt)));
      }
    } else if (state === OPEN && this.#autoHalfOpen) {
      this.#schedule(HALF_OPEN, Math.max(0, this.#openedAt + this.#waitMs - now));
    }
  }
}

/** Creates a {@link CircuitBreaker}. */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  return new CircuitBreaker(options);
}

/** Resilience4j publishes no call events in `DISABLED` and `FORCED_OPEN`. */
function publishes(state: BreakerState): boolean {
  return state !== DISABLED && state !== FORCED_OPEN;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Runs a user predicate; one that throws is reported as a warning and counts as `onThrow`. */
function test(
  predicate: (value: unknown) => boolean,
  value: unknown,
  onThrow: boolean,
  option: string,
): boolean {
  try {
    return Boolean(predicate(value));
  } catch (error) {
    warn(option, error);
    return onThrow;
  }
}

function warn(option: string, error: unknown): void {
  process.emitWarning(
    `circuit breaker option ${option} threw: ${error instanceof Error ? error.message : String(error)}`,
    { code: "FLT_BREAKER_CALLBACK_ERROR", detail: error instanceof Error ? error.stack : undefined },
  );
}
