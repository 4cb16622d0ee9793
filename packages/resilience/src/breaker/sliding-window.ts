import type { CallOutcome } from "./call-outcome.js";

/** How a breaker's sliding window is cut, as in Resilience4j. */
export const SlidingWindowType = {
  /** The last `slidingWindowSize` calls. */
  COUNT_BASED: "COUNT_BASED",
  /** The calls of the last `slidingWindowSize` seconds, in one-second buckets. */
  TIME_BASED: "TIME_BASED",
} as const;

/** One of {@link SlidingWindowType}'s values. */
export type SlidingWindowType = (typeof SlidingWindowType)[keyof typeof SlidingWindowType];

/** The serialisable contents of a {@link CountWindow}: outcomes, oldest first. */
export interface CountWindowJSON {
  readonly type: "COUNT_BASED";
  readonly size: number;
  /** {@link CallOutcome} codes, oldest first. */
  readonly outcomes: readonly number[];
}

/**
 * The serialisable contents of a {@link TimeWindow}: one `[calls, failed, slow, slowFailed]` tuple
 * per second, oldest first; the last one is the second in which the window was serialised.
 */
export interface TimeWindowJSON {
  readonly type: "TIME_BASED";
  readonly size: number;
  readonly buckets: readonly (readonly [number, number, number, number])[];
}

/** The serialisable contents of either window. */
export type SlidingWindowJSON = CountWindowJSON | TimeWindowJSON;

/**
 * Running totals over a breaker's recent calls. Recording is O(1) and allocates nothing; the
 * totals are kept up to date on every record, so reading them never scans the window.
 */
export interface SlidingWindow {
  /** True for the time-based window, whose `record` needs the current time. */
  readonly timeBased: boolean;
  /** Capacity: calls for the count-based window, seconds for the time-based one. */
  readonly size: number;
  /** Calls in the window. */
  readonly calls: number;
  /** Failed calls in the window, slow or not. */
  readonly failed: number;
  /** Slow calls in the window, failed or not. */
  readonly slow: number;
  /** Calls that were both slow and failed. */
  readonly slowFailed: number;
  /** Adds one call; `nowMs` is read only by the time-based window. */
  record(outcome: CallOutcome, nowMs: number): void;
  /** Drops what has aged out by `nowMs` (a no-op for the count-based window). */
  moveTo(nowMs: number): void;
  /** Empties the window without allocating. */
  reset(): void;
}
