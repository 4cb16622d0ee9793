import type { CallOutcome } from "./call-outcome.js";
import type { CountWindowJSON, SlidingWindow } from "./sliding-window.js";

/**
 * A count-based sliding window: a ring of the last `size` call outcomes with running totals.
 * Recording overwrites the oldest outcome and adjusts the totals by the difference, so it is O(1);
 * the ring is allocated once.
 */
export class CountWindow implements SlidingWindow {
  /** Always false: the count-based window ignores time. */
  readonly timeBased = false;
  /** How many outcomes the ring holds. */
  readonly size: number;
  /** Calls in the window. */
  calls = 0;
  /** Failed calls in the window. */
  failed = 0;
  /** Slow calls in the window. */
  slow = 0;
  /** Slow failed calls in the window. */
  slowFailed = 0;
  readonly #ring: Uint8Array;
  #head = 0;

  constructor(size: number) {
    this.size = size;
    this.#ring = new Uint8Array(size);
  }

  /** Adds one outcome, evicting the oldest once the ring is full. */
  record(outcome: CallOutcome, _nowMs?: number): void {
    const ring = this.#ring;
    const head = this.#head;
    if (this.calls === this.size) {
      const old = ring[head]!;
      this.failed -= old & 1;
      this.slow -= old >> 1;
      this.slowFailed -= (old >> 1) & old;
    } else {
      this.calls++;
    }
    ring[head] = outcome;
    this.failed += outcome & 1;
    this.slow += outcome >> 1;
    this.slowFailed += (outcome >> 1) & outcome;
    this.#head = head + 1 === this.size ? 0 : head + 1;
  }

  /** No-op: outcomes leave a count-based window only by being pushed out. */
  moveTo(_nowMs: number): void {}

  /** Empties the window. */
  reset(): void {
    this.calls = 0;
    this.failed = 0;
    this.slow = 0;
    this.slowFailed = 0;
    this.#head = 0;
  }

  /** The outcomes in the window, oldest first. */
  toJSON(_nowMs?: number): CountWindowJSON {
    const outcomes: number[] = [];
    const start = this.calls === this.size ? this.#head : 0;
    for (let i = 0; i < this.calls; i++) outcomes.push(this.#ring[(start + i) % this.size]!);
    return { type: "COUNT_BASED", size: this.size, outcomes };
  }

  /** Replaces the contents with `outcomes` (oldest first); only the newest `size` are kept. */
  load(outcomes: readonly number[]): void {
    this.reset();
    for (let i = Math.max(0, outcomes.length - this.size); i < outcomes.length; i++) {
      this.record(outcomes[i]! as CallOutcome);
    }
  }
}
