import { type Clock, systemClock } from "../clock.js";
import { ConfigReader, join } from "../config/config-reader.js";
import type { Duration } from "../duration.js";

/** Options of {@link RetryBudget}, as in Linkerd's and Finagle's retry budgets. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per original request within the window: 0.2 lets retries add at most 20 % to
   * the load. Default 0.2; between 0 and 1000.
   */
  readonly ratio?: number;
  /**
   * Retries per second of the window that are always allowed, on top of `ratio`, so that a client
   * with little traffic can still retry. Default 10; 0 or more.
   */
  readonly minRetriesPerSecond?: number;
  /** How long a request or a retry is remembered. Default `"10s"`; from 1 s to 60 s, in whole seconds. */
  readonly window?: Duration;
  /** Time source. Default {@link systemClock}. */
  readonly clock?: Clock;
}

/** {@link RetryBudgetOptions} after validation, durations in milliseconds. */
export interface ResolvedRetryBudgetOptions {
  readonly ratio: number;
  readonly minRetriesPerSecond: number;
  readonly window: number;
  readonly clock: Clock;
}

/** Plain numbers describing a {@link RetryBudget} now. */
export interface RetryBudgetSnapshot {
  /** Original requests remembered in the window. */
  readonly requests: number;
  /** Retries remembered in the window. */
  readonly retries: number;
  /** Retries that would be allowed now. */
  readonly available: number;
}

/** Reads {@link RetryBudgetOptions} from plain data, recording problems at `path`. */
export function parseRetryBudgetOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  defaultClock: Clock = systemClock,
): ResolvedRetryBudgetOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["ratio", "minRetriesPerSecond", "window", "clock"], path);
  const ratio = reader.number(obj, "ratio", path, 0.2, { min: 0, max: 1000 });
  const minRetriesPerSecond = reader.number(obj, "minRetriesPerSecond", path, 10, { min: 0 });
  const window = reader.duration(obj, "window", path, 10_000, { min: 1000, max: 60_000 });
  if (window % 1000 !== 0) reader.issue(join(path, "window"), `must be whole seconds, got ${window} ms`);
  const clock = obj.clock === undefined ? defaultClock : reader.clock(obj, "clock", path);
  return { ratio, minRetriesPerSecond, window, clock };
}

// Products such as 0.29 × 100 come out as 28.999999999999996; this keeps them from refusing the 29th retry.
const epsilon = 1e-9;

/**
 * Caps retries at a share of recent traffic so that a failing dependency cannot set off a retry
 * storm (Linkerd's `retryRatio` / `minRetriesPerSecond` / `ttl`, Finagle's and tower's
 * `RetryBudget`). Within the last `window`:
 *
 * `retries ≤ ratio × requests + minRetriesPerSecond × windowSeconds`
 *
 * Every {@link Retry} that shares the object draws on the same budget. Memory is fixed (one
 * request and one retry counter per second of the window, in a ring) and every call is O(1):
 * running totals are kept and a bucket is subtracted when its second leaves the window. The window
 * is measured in whole seconds on the clock, so what it remembers spans between `window − 1 s` and
 * `window`.
 */
export class RetryBudget {
  /** Retries allowed per original request. */
  readonly ratio: number;
  /** Retries per second always allowed. */
  readonly minRetriesPerSecond: number;
  /** The window in milliseconds. */
  readonly window: number;
  readonly #clock: Clock;
  readonly #requests: Float64Array;
  readonly #retries: Float64Array;
  readonly #reserve: number;
  #requestTotal = 0;
  #retryTotal = 0;
  #second: number;

  constructor(options: RetryBudgetOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseRetryBudgetOptions(options, reader, "");
    reader.throwIfInvalid();
    this.ratio = resolved.ratio;
    this.minRetriesPerSecond = resolved.minRetriesPerSecond;
    this.window = resolved.window;
    this.#clock = resolved.clock;
    const seconds = resolved.window / 1000;
    this.#requests = new Float64Array(seconds);
    this.#retries = new Float64Array(seconds);
    this.#reserve = resolved.minRetriesPerSecond * seconds;
    this.#second = Math.floor(this.#clock.now() / 1000);
  }

  /** Records an original request (not a retry); each one earns `ratio` retries for the window. */
  deposit(): void {
    const i = this.#advance();
    this.#requests[i]!++;
    this.#requestTotal++;
  }

  /**
   * Takes one retry from the budget if there is one. Returns false, and records nothing, when
   * retrying now would exceed the budget.
   */
  tryWithdraw(): boolean {
    const i = this.#advance();
    if (this.#retryTotal + 1 > this.#reserve + this.ratio * this.#requestTotal + epsilon) return false;
    this.#retries[i]!++;
    this.#retryTotal++;
    return true;
  }

  /** The counts in the window now. */
  snapshot(): RetryBudgetSnapshot {
    this.#advance();
    const allowed = Math.floor(this.#reserve + this.ratio * this.#requestTotal + epsilon);
    return {
      requests: this.#requestTotal,
      retries: this.#retryTotal,
      available: Math.max(0, allowed - this.#retryTotal),
    };
  }

  /** Drops the buckets of seconds that left the window and returns the current bucket's index. */
  #advance(): number {
    const second = Math.floor(this.#clock.now() / 1000);
    const size = this.#requests.length;
    let current = this.#second;
    if (second !== current) {
      if (second - current >= size || second < current) {
        this.#requests.fill(0);
        this.#retries.fill(0);
        this.#requestTotal = 0;
        this.#retryTotal = 0;
      } else {
        while (current < second) {
          current++;
          const i = ((current % size) + size) % size;
          this.#requestTotal -= this.#requests[i]!;
          this.#retryTotal -= this.#retries[i]!;
          this.#requests[i] = 0;
          this.#retries[i] = 0;
        }
      }
      this.#second = second;
    }
    return ((second % size) + size) % size;
  }
}

/** Creates a {@link RetryBudget}; pass the same object to several retries to share it. */
export function retryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  return new RetryBudget(options);
}
