/**
 * Every error this package throws, with a stable `code`. Type guards and `instanceof` check the
 * code, not the prototype, so they hold across duplicate copies of the package in one process.
 */

const kFlotillaError = Symbol.for("flotilla.error");

/** The stable error codes of `@flotilla/resilience`. */
export const ErrorCode = {
  BreakerOpen: "FLT_BREAKER_OPEN",
  BreakerIllegalTransition: "FLT_BREAKER_ILLEGAL_TRANSITION",
  Timeout: "FLT_TIMEOUT",
  BulkheadFull: "FLT_BULKHEAD_FULL",
  BulkheadQueueTimeout: "FLT_BULKHEAD_QUEUE_TIMEOUT",
  RateLimited: "FLT_RATE_LIMITED",
  DeadlineExceeded: "FLT_DEADLINE_EXCEEDED",
  HedgeLost: "FLT_HEDGE_LOST",
  ConfigInvalid: "FLT_CONFIG_INVALID",
} as const;

/** One of {@link ErrorCode}'s values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every coded Flotilla error. */
export class FlotillaError extends Error {
  /** Stable machine-readable code such as `FLT_BREAKER_OPEN`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, kFlotillaError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isFlotillaError(value);
  }
}

/** True for any Flotilla error, from any copy of any Flotilla package. */
export function isFlotillaError(value: unknown): value is FlotillaError {
  return (
    typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kFlotillaError] === true
  );
}

function hasCode(value: unknown, code: string): boolean {
  return isFlotillaError(value) && value.code === code;
}

/** Thrown by a circuit breaker that does not permit the call. */
export class BreakerOpenError extends FlotillaError {
  /** The breaker's name. */
  readonly breaker: string;
  /** The state that refused the call: `OPEN`, `FORCED_OPEN` or `HALF_OPEN` (all probes taken). */
  readonly state: string;
  /** Milliseconds until the breaker will permit a call again, when known. */
  readonly retryAfterMs: number | undefined;

  constructor(breaker: string, state: string, retryAfterMs: number | undefined) {
    super(
      ErrorCode.BreakerOpen,
      `circuit breaker "${breaker}" is ${state}${retryAfterMs === undefined ? "" : `; next attempt allowed in ${Math.ceil(retryAfterMs)} ms`}`,
    );
    this.breaker = breaker;
    this.state = state;
    this.retryAfterMs = retryAfterMs;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.BreakerOpen);
  }
}

/**
 * Thrown by a manual transition that Resilience4j does not allow: `CLOSED` → `HALF_OPEN`, and
 * `METRICS_ONLY` → `OPEN` or `HALF_OPEN`.
 */
export class IllegalStateTransitionError extends FlotillaError {
  /** The breaker's name. */
  readonly breaker: string;
  /** The state the breaker was in. */
  readonly from: string;
  /** The state that was asked for. */
  readonly to: string;

  constructor(breaker: string, from: string, to: string) {
    super(ErrorCode.BreakerIllegalTransition, `circuit breaker "${breaker}" cannot go from ${from} to ${to}`);
    this.breaker = breaker;
    this.from = from;
    this.to = to;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.BreakerIllegalTransition);
  }
}

/** Thrown when a timeout policy's limit elapses before the operation settles. */
export class TimeoutError extends FlotillaError {
  /** The limit that elapsed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options?: { cause?: unknown }) {
    super(ErrorCode.Timeout, `operation timed out after ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.Timeout);
  }
}

/** Thrown when the deadline carried by the context is already spent before a call starts. */
export class DeadlineExceededError extends FlotillaError {
  constructor(message = "deadline exceeded before the call started") {
    super(ErrorCode.DeadlineExceeded, message);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.DeadlineExceeded);
  }
}

/** Thrown by a bulkhead whose slots and queue are all taken. */
export class BulkheadFullError extends FlotillaError {
  /** The bulkhead's name. */
  readonly bulkhead: string;

  constructor(bulkhead: string, maxConcurrent: number, maxQueue: number) {
    super(
      ErrorCode.BulkheadFull,
      `bulkhead "${bulkhead}" is full: ${maxConcurrent} running and ${maxQueue} queued`,
    );
    this.bulkhead = bulkhead;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.BulkheadFull);
  }
}

/** Thrown when a call waited in a bulkhead's queue longer than `maxQueueWait`. */
export class BulkheadQueueTimeoutError extends FlotillaError {
  /** The bulkhead's name. */
  readonly bulkhead: string;

  constructor(bulkhead: string, waitedMs: number) {
    super(ErrorCode.BulkheadQueueTimeout, `bulkhead "${bulkhead}": no slot within ${waitedMs} ms`);
    this.bulkhead = bulkhead;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.BulkheadQueueTimeout);
  }
}

/** Thrown when a rate limiter has no permit for the call within its timeout. */
export class RateLimitedError extends FlotillaError {
  /** The limiter's name. */
  readonly limiter: string;
  /** Milliseconds until a permit is expected to be available. */
  readonly retryAfterMs: number;

  constructor(limiter: string, retryAfterMs: number) {
    super(
      ErrorCode.RateLimited,
      `rate limiter "${limiter}" has no permit; next in ${Math.ceil(retryAfterMs)} ms`,
    );
    this.limiter = limiter;
    this.retryAfterMs = retryAfterMs;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.RateLimited);
  }
}

/** One problem found in a configuration: where (`instances.payments.failureRateThreshold`) and why. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Thrown at construction when a configuration is invalid; lists every problem with its path. */
export class ConfigError extends FlotillaError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(
      ErrorCode.ConfigInvalid,
      `invalid configuration:\n${issues.map((i) => `  - ${i.path || "(root)"}: ${i.message}`).join("\n")}`,
    );
    this.issues = issues;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ErrorCode.ConfigInvalid);
  }
}

/** Type guard for {@link BreakerOpenError} across package copies. */
export const isBreakerOpenError = (e: unknown): e is BreakerOpenError => hasCode(e, ErrorCode.BreakerOpen);
/** Type guard for {@link TimeoutError} across package copies. */
export const isTimeoutError = (e: unknown): e is TimeoutError => hasCode(e, ErrorCode.Timeout);
/** Type guard for {@link BulkheadFullError} across package copies. */
export const isBulkheadFullError = (e: unknown): e is BulkheadFullError => hasCode(e, ErrorCode.BulkheadFull);
/** Type guard for {@link RateLimitedError} across package copies. */
export const isRateLimitedError = (e: unknown): e is RateLimitedError => hasCode(e, ErrorCode.RateLimited);
/** Type guard for {@link ConfigError} across package copies. */
export const isConfigError = (e: unknown): e is ConfigError => hasCode(e, ErrorCode.ConfigInvalid);
/** Type guard for {@link DeadlineExceededError} across package copies. */
export const isDeadlineExceededError = (e: unknown): e is DeadlineExceededError =>
  hasCode(e, ErrorCode.DeadlineExceeded);
/** Type guard for {@link BulkheadQueueTimeoutError} across package copies. */
export const isBulkheadQueueTimeoutError = (e: unknown): e is BulkheadQueueTimeoutError =>
  hasCode(e, ErrorCode.BulkheadQueueTimeout);
/** Type guard for {@link IllegalStateTransitionError} across package copies. */
export const isIllegalStateTransitionError = (e: unknown): e is IllegalStateTransitionError =>
  hasCode(e, ErrorCode.BreakerIllegalTransition);
