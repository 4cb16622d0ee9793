import type { CallOutcome } from "./call-outcome.js";
import type { SlidingWindow, TimeWindowJSON } from "./sliding-window.js";

const FIELDS = 4;

/**
 * A time-based sliding window: `size` one-second buckets keyed by epoch second
 * (`floor(nowMs / 1000) % size`) with running totals. Moving to a later second clears only the
 * buckets it skipped, at most `size` of them, and subtracts them from the totals, so recording is
 * O(1) amortised and never scans the window; the buckets are allocated once.
 */
export class TimeWindow implements SlidingWindow {
  /** Always true: recording needs the current time. */
  readonly timeBased = true;
  /** How many one-second buckets the window spans. */
  readonly size: number;
  /** Calls in the window. */
  calls = 0;
  /** Failed calls in the window. */
  failed = 0;
  /** Slow calls in the window. */
  slow = 0;
  /** Slow failed calls in the window. */
  slowFailed = 0;
  /** `[calls, failed, slow, slowFailed]` per bucket. */
  readonly #buckets: Float64Array;
  #second = Number.NEGATIVE_INFINITY;
  #index = 0;

  constructor(size: number) {
    this.size = size;
    this.#buckets = new Float64Array(size * FIELDS);
  }

  /** Adds one outcome to the bucket of `nowMs`'s second. */
  record(outcome: CallOutcome, nowMs: number): void {
    this.moveTo(nowMs);
    const at = this.#index * FIELDS;
    const buckets = this.#buckets;
    const failed = outcome & 1;
    const slow = outcome >> 1;
    const slowFailed = slow & outcome;
    buckets[at] = buckets[at]! + 1;
    buckets[at + 1] = buckets[at + 1]! + failed;
    buckets[at + 2] = buckets[at + 2]! + slow;
    buckets[at + 3] = buckets[at + 3]! + slowFailed;
    this.calls++;
    this.failed += failed;
    this.slow += slow;
    this.slowFailed += slowFailed;
  }

  /**
   * Makes `nowMs`'s second the newest bucket, clearing the buckets of the seconds in between. A
   * time earlier than the newest bucket is counted in the newest bucket.
   */
  moveTo(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const gap = second - this.#second;
    if (!(gap > 0)) return;
    const size = this.size;
    if (gap >= size) {
      this.#clear();
      this.#index = ((second % size) + size) % size;
    } else {
      const buckets = this.#buckets;
      let index = this.#index;
      for (let k = 0; k < gap; k++) {
        index = index + 1 === size ? 0 : index + 1;
        const at = index * FIELDS;
        this.calls -= buckets[at]!;
        this.failed -= buckets[at + 1]!;
        this.slow -= buckets[at + 2]!;
        this.slowFailed -= buckets[at + 3]!;
        buckets[at] = 0;
        buckets[at + 1] = 0;
        buckets[at + 2] = 0;
        buckets[at + 3] = 0;
      }
      this.#index = index;
    }
    this.#second = second;
  }

  /** Empties the window. */
  reset(): void {
    this.#clear();
    this.#second = Number.NEGATIVE_INFINITY;
  }

  /** The buckets of the `size` seconds ending at `nowMs`'s second, oldest first. */
  toJSON(nowMs: number): TimeWindowJSON {
    this.moveTo(nowMs);
    const buckets: [number, number, number, number][] = [];
    const size = this.size;
    for (let age = size - 1; age >= 0; age--) {
      const at = ((((this.#index - age) % size) + size) % size) * FIELDS;
      const b = this.#buckets;
      buckets.push([b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!]);
    }
    return { type: "TIME_BASED", size, buckets };
  }

  /**
   * Replaces the contents with `buckets` (oldest first), the last one placed in `nowMs`'s second;
   * buckets older than this window's span are dropped.
   */
  load(buckets: TimeWindowJSON["buckets"], nowMs: number): void {
    this.reset();
    this.moveTo(nowMs);
    const size = this.size;
    const b = this.#buckets;
    for (let i = 0; i < buckets.length; i++) {
      const age = buckets.length - 1 - i;
      if (age >= size) continue;
      const [calls, failed, slow, slowFailed] = buckets[i]!;
      const at = ((((this.#index - age) % size) + size) % size) * FIELDS;
      b[at] = calls;
      b[at + 1] = failed;
      b[at + 2] = slow;
      b[at + 3] = slowFailed;
      this.calls += calls;
      this.failed += failed;
      this.slow += slow;
      this.slowFailed += slowFailed;
    }
  }

  #clear(): void {
    // Every bucket is already zero when the totals are.
    if (this.calls !== 0) this.#buckets.fill(0);
    this.calls = 0;
    this.failed = 0;
    this.slow = 0;
    this.slowFailed = 0;
  }
}
