import { type Clock, systemClock } from "../clock.js";
import { type ConfigReader, join } from "../config/config-reader.js";
import type { Duration } from "../duration.js";
import { isBreakerOpenError, isConfigError } from "../errors.js";
import type { Backoff } from "./backoff/backoff.js";
import {
  type ConstantBackoffOptions,
  constantBackoffOf,
  parseConstantBackoffOptions,
} from "./backoff/constant-backoff.js";
import {
  type DecorrelatedJitterBackoffOptions,
  decorrelatedJitterBackoffOf,
  parseDecorrelatedJitterBackoffOptions,
} from "./backoff/decorrelated-jitter-backoff.js";
import {
  type ExponentialBackoffOptions,
  exponentialBackoffOf,
  parseExponentialBackoffOptions,
} from "./backoff/exponential-backoff.js";
import {
  type FullJitterBackoffOptions,
  fullJitterBackoffOf,
  parseFullJitterBackoffOptions,
} from "./backoff/full-jitter-backoff.js";
import {
  type LinearBackoffOptions,
  linearBackoffOf,
  parseLinearBackoffOptions,
} from "./backoff/linear-backoff.js";
import { parseRetryBudgetOptions, RetryBudget, type RetryBudgetOptions } from "./retry-budget.js";

/**
 * A backoff described as plain data, for configuration files: a duration alone is a constant
 * wait, an object names its `type` and that backoff's options.
 *
 * ```yaml
 * backoff: { type: decorrelatedJitter, initialDelay: 100ms, maxDelay: 5s }
 * ```
 */
export type BackoffConfig =
  | Duration
  | ({ readonly type: "constant" } & ConstantBackoffOptions)
  | ({ readonly type: "linear" } & LinearBackoffOptions)
  | ({ readonly type: "exponential" } & ExponentialBackoffOptions)
  | ({ readonly type: "fullJitter" } & FullJitterBackoffOptions)
  | ({ readonly type: "decorrelatedJitter" } & DecorrelatedJitterBackoffOptions);

/** The `type` names of {@link BackoffConfig}. */
export const backoffTypes = [
  "constant",
  "linear",
  "exponential",
  "fullJitter",
  "decorrelatedJitter",
] as const;

/** Decides whether an error is worth another attempt; `attempt` is the attempt that threw it (1 for the first). */
export type RetryPredicate = (error: unknown, attempt: number) => boolean;

/** Decides whether a returned value (an HTTP 503 response) is a failure worth another attempt. */
export type RetryResultPredicate = (result: unknown) => boolean;

/** Options of {@link Retry}. */
export interface RetryOptions {
  /** Appears in events. Default `"default"`. */
  readonly name?: string;
  /**
   * The most calls of the operation in one `execute`, counting the first one: 3 means one call and
   * at most two retries; 1 means no retry. A whole number, at least 1. Default 3.
   */
  readonly maxAttempts?: number;
  /**
   * The wait before each retry: a {@link Backoff} function `(attempt, reason, previousDelay) => ms`,
   * or a {@link BackoffConfig}. Default full jitter over 100 ms × 2^(attempt − 1), capped at 10 s.
   */
  readonly backoff?: Backoff | BackoffConfig;
  /**
   * Which errors to retry. Default {@link defaultRetryOn}. An abort of the caller's own signal is
   * never retried, whatever this says. Use `httpRetryClassifier()` for HTTP calls.
   */
  readonly retryOn?: RetryPredicate;
  /**
   * Which returned values to retry, such as a response with status 503. When the attempts run out
   * the last such value is returned, not thrown. Default: none.
   */
  readonly retryOnResult?: RetryResultPredicate;
  /**
   * Wait what a retried error or result asks for, in place of the backoff: a `Retry-After` header
   * (delay-seconds or HTTP-date, RFC 9110 §10.2.3) or a `retryAfterMs` property. Default true.
   */
  readonly honorRetryAfter?: boolean;
  /**
   * The longest `Retry-After` to honour. When the server asks for more, the retry gives up at once
   * (reason `retryAfterTooLong`) and hands back the last error or result: waiting less than asked
   * would only earn another refusal, and holding the caller longer than this is worse than
   * failing. Default `"30s"`.
   */
  readonly maxRetryAfter?: Duration;
  /**
   * Limits retries to a share of recent traffic. Pass one {@link RetryBudget} to several retries
   * to share it, or options to give this retry its own. Default: no budget.
   */
  readonly budget?: RetryBudget | RetryBudgetOptions;
  /** Time source for waits. Default {@link systemClock}. */
  readonly clock?: Clock;
  /** Epoch milliseconds, read only to turn an HTTP-date `Retry-After` into a wait. Default `Date.now`. */
  readonly wallClock?: () => number;
}

/** {@link RetryOptions} after validation: durations in milliseconds, backoff and budget built. */
export interface ResolvedRetryOptions {
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly retryOn: RetryPredicate;
  readonly retryOnResult: RetryResultPredicate | undefined;
  readonly honorRetryAfter: boolean;
  readonly maxRetryAfter: number;
  readonly budget: RetryBudget | undefined;
  readonly clock: Clock;
  readonly wallClock: () => number;
}

/** The defaults of {@link RetryOptions}. */
export const retryDefaults = Object.freeze({
  name: "default",
  maxAttempts: 3,
  backoff: Object.freeze({ type: "fullJitter", initialDelay: 100, multiplier: 2, maxDelay: 10_000 }),
  honorRetryAfter: true,
  maxRetryAfter: 30_000,
} as const);

/**
 * The default `retryOn`: every error except
 * - `BreakerOpenError`: the breaker refused without calling the dependency, and will keep refusing
 *   until its open state ends, usually seconds later; retrying within a call's backoff only burns
 *   attempts. Retry it explicitly when its `retryAfterMs` is short; the retry then waits exactly
 *   that long.
 * - `ConfigError`: a mistake in the program, not a transient fault.
 *
 * A `TimeoutError` is retried: a slow attempt is the classic transient failure. An abort of the
 * caller's own signal never reaches the predicate.
 */
export function defaultRetryOn(error: unknown): boolean {
  return !isBreakerOpenError(error) && !isConfigError(error);
}

const knownKeys = [
  "name",
  "maxAttempts",
  "backoff",
  "retryOn",
  "retryOnResult",
  "honorRetryAfter",
  "maxRetryAfter",
  "budget",
  "clock",
  "wallClock",
];

/**
 * Reads {@link RetryOptions} from plain data, recording every problem at its path under `path`
 * (`instances.payments.backoff.maxDelay`). Function-valued options pass through; a budget given as
 * options is built here, on this retry's clock unless it names its own.
 */
export function parseRetryOptions(raw: unknown, reader: ConfigReader, path: string): ResolvedRetryOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, knownKeys, path);
  const clock = reader.clock(obj, "clock", path);
  return {
    name: reader.string(obj, "name", path, retryDefaults.name),
    maxAttempts: reader.number(obj, "maxAttempts", path, retryDefaults.maxAttempts, {
      integer: true,
      min: 1,
    }),
    backoff: parseBackoff(obj, reader, path),
    retryOn: reader.fn<RetryPredicate>(obj, "retryOn", path) ?? defaultRetryOn,
    retryOnResult: reader.fn<RetryResultPredicate>(obj, "retryOnResult", path),
    honorRetryAfter: reader.boolean(obj, "honorRetryAfter", path, retryDefaults.honorRetryAfter),
    maxRetryAfter: reader.duration(obj, "maxRetryAfter", path, retryDefaults.maxRetryAfter),
    budget: parseBudget(obj, reader, path, clock),
    clock,
    wallClock: reader.fn<() => number>(obj, "wallClock", path) ?? Date.now,
  };
}

/**
 * Reads the `backoff` option of `obj`: a function as it is, a duration as a constant wait, or a
 * {@link BackoffConfig} object; the default when absent.
 */
export function parseBackoff(obj: Record<string, unknown>, reader: ConfigReader, path: string): Backoff {
  const raw = obj.backoff;
  if (raw === undefined) return fullJitterBackoffOf({ ...retryDefaults.backoff, random: Math.random });
  if (typeof raw === "function") return raw as Backoff;
  if (typeof raw === "number" || typeof raw === "string") {
    return constantBackoffOf({ delay: reader.duration(obj, "backoff", path, 500) });
  }
  const at = join(path, "backoff");
  const config = reader.object(raw, at);
  const type = config.type;
  const extra = ["type"];
  switch (type) {
    case "constant":
      return constantBackoffOf(parseConstantBackoffOptions(config, reader, at, extra));
    case "linear":
      return linearBackoffOf(parseLinearBackoffOptions(config, reader, at, extra));
    case "exponential":
      return exponentialBackoffOf(parseExponentialBackoffOptions(config, reader, at, extra));
    case "fullJitter":
      return fullJitterBackoffOf(parseFullJitterBackoffOptions(config, reader, at, extra));
    case "decorrelatedJitter":
      return decorrelatedJitterBackoffOf(parseDecorrelatedJitterBackoffOptions(config, reader, at, extra));
    default:
      if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
        reader.issue(
          join(at, "type"),
          `expected one of ${backoffTypes.map((t) => `"${t}"`).join(", ")}, got ${type === undefined ? "nothing" : JSON.stringify(type)}`,
        );
      }
      return constantBackoffOf({ delay: 0 });
  }
}

function parseBudget(
  obj: Record<string, unknown>,
  reader: ConfigReader,
  path: string,
  clock: Clock,
): RetryBudget | undefined {
  const raw = obj.budget;
  if (raw === undefined) return undefined;
  if (raw instanceof RetryBudget) return raw;
  const resolved = parseRetryBudgetOptions(raw, reader, join(path, "budget"), clock);
  return new RetryBudget(resolved);
}
