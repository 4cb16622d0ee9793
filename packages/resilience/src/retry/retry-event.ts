/**
 * Why a retry stopped without a success:
 * - `maxAttempts`: the last allowed attempt failed;
 * - `notRetryable`: `retryOn` refused the error;
 * - `budget`: the shared `RetryBudget` had no retry left;
 * - `deadline`: the next wait would not end before the caller's deadline;
 * - `retryAfterTooLong`: the server asked to wait longer than `maxRetryAfter`;
 * - `aborted`: the caller's signal aborted.
 */
export type RetryGiveUpReason =
  | "maxAttempts"
  | "notRetryable"
  | "budget"
  | "deadline"
  | "retryAfterTooLong"
  | "aborted";

/**
 * Emitted before each wait for a new attempt. Exactly one of `error` (the attempt threw) and
 * `result` (`retryOnResult` refused what it returned) is present; test with `"error" in event`.
 */
export interface RetryAttemptEvent {
  readonly type: "retry";
  /** The retry policy's name. */
  readonly name: string;
  /** The attempt that failed: 1 before the first retry. */
  readonly attempt: number;
  /** The wait before the next attempt: the backoff's, or the `Retry-After` that replaced it. */
  readonly delayMs: number;
  readonly error?: unknown;
  readonly result?: unknown;
}

/**
 * Emitted once when a call ends without success. Carries the last outcome like
 * {@link RetryAttemptEvent}: `error`, or `result` when the last attempt returned a refused result.
 */
export interface RetryGiveUpEvent {
  readonly type: "giveUp";
  /** The retry policy's name. */
  readonly name: string;
  /** Attempts made, including the first; 0 when the signal was aborted before the first one. */
  readonly attempts: number;
  readonly reason: RetryGiveUpReason;
  readonly error?: unknown;
  readonly result?: unknown;
}

/** Emitted once when a call succeeds; `attempts` is 1 when no retry was needed. */
export interface RetrySuccessEvent {
  readonly type: "success";
  /** The retry policy's name. */
  readonly name: string;
  /** Attempts made, including the successful one. */
  readonly attempts: number;
}

/**
 * Everything a {@link Retry} reports through its `events`. Every call ends with exactly one
 * `success` or `giveUp`, preceded by one `retry` per retry.
 */
export type RetryEvent = RetryAttemptEvent | RetryGiveUpEvent | RetrySuccessEvent;
