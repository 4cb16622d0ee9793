import type { Clock } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import type { Deadline } from "../deadline.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import { sleep } from "../sleep.js";
import type { Backoff } from "./backoff/backoff.js";
import { retryAfterFrom } from "./retry-after.js";
import type { RetryBudget } from "./retry-budget.js";
import type { RetryEvent, RetryGiveUpReason } from "./retry-event.js";
import {
  parseRetryOptions,
  type RetryOptions,
  type RetryPredicate,
  type RetryResultPredicate,
} from "./retry-options.js";

/**
 * Counters of a {@link Retry} since it was created, named like Resilience4j's Retry metrics.
 * Every finished call is counted in exactly one of the success, failed and aborted counters.
 */
export interface RetrySnapshot {
  /** Calls to `execute`, including those still running. */
  readonly calls: number;
  /** Calls that succeeded at the first attempt. */
  readonly successWithoutRetry: number;
  /** Calls that succeeded after one retry or more. */
  readonly successAfterRetry: number;
  /** Calls that failed at the first attempt and were not retried (not retryable, `maxAttempts` 1, budget, deadline). */
  readonly failedWithoutRetry: number;
  /** Calls that failed after one retry or more. */
  readonly failedAfterRetry: number;
  /** Calls ended by the caller's own signal; never counted as failures. */
  readonly aborted: number;
  /** Retries made, over all calls. */
  readonly retries: number;
  /** Retries refused by the retry budget. */
  readonly budgetRejections: number;
}

/** The context each attempt receives: the caller's signal, deadline and key, and the attempt number. */
class AttemptContext implements PolicyContext {
  readonly signal: AbortSignal | undefined;
  readonly deadline: Deadline | undefined;
  readonly key: string | undefined;
  readonly attempt: number;

  constructor(caller: PolicyContext, attempt: number) {
    this.signal = caller.signal;
    this.deadline = caller.deadline;
    this.key = caller.key;
    this.attempt = attempt;
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * Calls an operation again when it fails, waiting a backoff between attempts.
 *
 * ```ts
 * const retryPolicy = retry({ maxAttempts: 3, ...httpRetryClassifier(), budget: sharedBudget });
 * const response = await retryPolicy.execute(({ signal, attempt }) => fetch(url, { signal }));
 * ```
 *
 * Per call:
 * - the operation runs at most `maxAttempts` times in all; each run receives a context with
 *   `attempt` (1, 2, …) and the caller's `signal`, `deadline` and `key`;
 * - an error is retried when `retryOn` accepts it, a returned value when `retryOnResult` accepts
 *   it; an abort of the caller's signal never is;
 * - the wait is the backoff's, or the `Retry-After` the error or result carries (see
 *   `maxRetryAfter`), on the injected clock, and ends at once with `signal.reason` when the
 *   caller aborts;
 * - a wait that would not end before `deadline` is not started: the retry gives up instead of
 *   sleeping into a certain timeout;
 * - with a budget, each retry needs the budget's permission.
 *
 * Giving up hands back the last outcome unchanged: the last error is rethrown as it was (no
 * wrapping), or the last value refused by `retryOnResult` is returned. A caller abort rejects with
 * `signal.reason`.
 *
 * A first attempt that succeeds costs one `.then` and a few counters: no timer, no listener, no
 * budget work beyond recording the request.
 */
export class Retry implements Policy {
  /** The name given in the options; appears in events. */
  readonly name: string;
  /** The most calls of the operation per `execute`, the first included. */
  readonly maxAttempts: number;
  /** `retry`, `giveUp` and `success` events. */
  readonly events = new EventStream<RetryEvent>();
  readonly #backoff: Backoff;
  readonly #retryOn: RetryPredicate;
  readonly #retryOnResult: RetryResultPredicate | undefined;
  readonly #honorRetryAfter: boolean;
  readonly #maxRetryAfter: number;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  #calls = 0;
  #successWithoutRetry = 0;
  #successAfterRetry = 0;
  #failedWithoutRetry = 0;
  #failedAfterRetry = 0;
  #aborted = 0;
  #retries = 0;
  #budgetRejections = 0;

  /** Throws a `ConfigError` listing every bad option. */
  constructor(options: RetryOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseRetryOptions(options, reader, "");
    reader.throwIfInvalid();
    this.name = resolved.name;
    this.maxAttempts = resolved.maxAttempts;
    this.#backoff = resolved.backoff;
    this.#retryOn = resolved.retryOn;
    this.#retryOnResult = resolved.retryOnResult;
    this.#honorRetryAfter = resolved.honorRetryAfter;
    this.#maxRetryAfter = resolved.maxRetryAfter;
    this.#budget = resolved.budget;
    this.#clock = resolved.clock;
    this.#wallClock = resolved.wallClock;
  }

  /** Runs `operation`, retrying it as the options say. */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    this.#calls++;
    const signal = context.signal;
    if (signal?.aborted) {
      this.#end("aborted", 0, signal.reason, true);
      return Promise.reject(signal.reason);
    }
    this.#budget?.deposit();
    let value: T | PromiseLike<T>;
    try {
      value = operation(new AttemptContext(context, 1));
    } catch (error) {
      return this.#retry(operation, context, error, true);
    }
    if (isPromiseLike(value)) {
      const onFailure = (error: unknown) => this.#retry(operation, context, error, true);
      return this.#retryOnResult === undefined
        ? Promise.resolve(value).then(this.#onFirstSuccess as (v: T) => T, onFailure)
        : Promise.resolve(value).then((v) => this.#checkFirstResult(v, operation, context), onFailure);
    }
    if (this.#retryOnResult === undefined) return Promise.resolve(this.#onFirstSuccess(value) as T);
    try {
      return Promise.resolve(this.#checkFirstResult(value, operation, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The counters since creation, as plain numbers. */
  snapshot(): RetrySnapshot {
    return {
      calls: this.#calls,
      successWithoutRetry: this.#successWithoutRetry,
      successAfterRetry: this.#successAfterRetry,
      failedWithoutRetry: this.#failedWithoutRetry,
      failedAfterRetry: this.#failedAfterRetry,
      aborted: this.#aborted,
      retries: this.#retries,
      budgetRejections: this.#budgetRejections,
    };
  }

  // One function for every call, so the success path allocates no closure for it.
  readonly #onFirstSuccess = (value: unknown): unknown => {
    this.#successWithoutRetry++;
    if (this.events.active) this.events.emit({ type: "success", name: this.name, attempts: 1 });
    return value;
  };

  #checkFirstResult<T>(value: T, operation: Operation<T>, context: PolicyContext): T | Promise<T> {
    if (this.#retryOnResult!(value)) return this.#retry(operation, context, value, false);
    return this.#onFirstSuccess(value) as T;
  }

  /** Everything after a first attempt that failed; `isError` tells a thrown error from a refused result. */
  async #retry<T>(
    operation: Operation<T>,
    context: PolicyContext,
    first: unknown,
    firstIsError: boolean,
  ): Promise<T> {
    const signal = context.signal;
    const deadline = context.deadline;
    let attempt = 1;
    let last = first;
    let isError = firstIsError;
    let previousDelay = 0;
    for (;;) {
      if (signal?.aborted) return this.#giveUp("aborted", attempt, signal.reason, true);
      if (isError && !this.#retryOn(last, attempt)) return this.#giveUp("notRetryable", attempt, last, true);
      if (attempt >= this.maxAttempts) return this.#giveUp("maxAttempts", attempt, last, isError);

      let delay: number;
      const asked = this.#honorRetryAfter ? retryAfterFrom(last, this.#wallClock) : undefined;
      if (asked !== undefined) {
        if (asked > this.#maxRetryAfter) return this.#giveUp("retryAfterTooLong", attempt, last, isError);
        delay = asked;
      } else {
        delay = this.#backoff(attempt, last, previousDelay);
        if (!(delay > 0)) delay = 0;
      }
      // The next attempt needs some time of its own after the wait, so a wait that uses up the rest is pointless too.
      if (deadline !== undefined && delay >= deadline.remaining()) {
        return this.#giveUp("deadline", attempt, last, isError);
      }
      // Asked last, so that a retry refused for another reason does not spend the shared budget.
      if (this.#budget !== undefined && !this.#budget.tryWithdraw()) {
        this.#budgetRejections++;
        return this.#giveUp("budget", attempt, last, isError);
      }

      this.#retries++;
      if (this.events.active) {
        this.events.emit(
          isError
            ? { type: "retry", name: this.name, attempt, delayMs: delay, error: last }
            : { type: "retry", name: this.name, attempt, delayMs: delay, result: last },
        );
      }
      if (delay > 0) {
        try {
          await sleep(delay, this.#clock, signal);
        } catch {
          return this.#giveUp("aborted", attempt, signal!.reason, true);
        }
      }
      previousDelay = delay;
      attempt++;

      let value: T;
      try {
        value = await operation(new AttemptContext(context, attempt));
      } catch (error) {
        last = error;
        isError = true;
        continue;
      }
      if (this.#retryOnResult?.(value)) {
        last = value;
        isError = false;
        continue;
      }
      this.#successAfterRetry++;
      if (this.events.active) this.events.emit({ type: "success", name: this.name, attempts: attempt });
      return value;
    }
  }

  /** Counts and reports the end of a call without success, then rethrows the error or returns the result. */
  #giveUp<T>(reason: RetryGiveUpReason, attempts: number, last: unknown, isError: boolean): T {
    this.#end(reason, attempts, last, isError);
    if (isError) throw last;
    return last as T;
  }

  #end(reason: RetryGiveUpReason, attempts: number, last: unknown, isError: boolean): void {
    if (reason === "aborted") this.#aborted++;
    else if (attempts <= 1) this.#failedWithoutRetry++;
    else this.#failedAfterRetry++;
    if (this.events.active) {
      this.events.emit(
        isError
          ? { type: "giveUp", name: this.name, attempts, reason, error: last }
          : { type: "giveUp", name: this.name, attempts, reason, result: last },
      );
    }
  }
}

/** Creates a {@link Retry}. */
export function retry(options: RetryOptions = {}): Retry {
  return new Retry(options);
}
