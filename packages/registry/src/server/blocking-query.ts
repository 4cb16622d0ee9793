import { type Clock, parseDuration } from "@flotilla/resilience";
import type { RequestIssue } from "../registry-error.js";
import type { ChangeListener, Unsubscribe } from "./change-topics.js";
import { HttpProblem } from "./http-problem.js";

/** The `?index=N&wait=30s` of a blocking query; `index` undefined answers at once. */
export interface BlockingParams {
  readonly index: number | undefined;
  readonly waitMs: number;
}

/**
 * Reads `index` (a whole number ≥ 0; 0 answers at once) and `wait` (a duration string or ms,
 * clamped to `maxWaitMs`) from a query string, collecting bad values into `issues`.
 */
export function parseBlockingParams(
  query: URLSearchParams,
  defaultWaitMs: number,
  maxWaitMs: number,
  issues: RequestIssue[],
): BlockingParams {
  let index: number | undefined;
  const rawIndex = query.get("index");
  if (rawIndex !== null) {
    const n = /^\d{1,15}$/.test(rawIndex) ? Number(rawIndex) : Number.NaN;
    if (Number.isNaN(n))
      issues.push({ path: "index", message: `expected a whole number ≥ 0, got "${rawIndex}"` });
    else if (n > 0) index = n;
  }
  let waitMs = defaultWaitMs;
  const rawWait = query.get("wait");
  if (rawWait !== null) {
    try {
      waitMs = Math.min(parseDuration(rawWait), maxWaitMs);
    } catch (error) {
      issues.push({ path: "wait", message: (error as Error).message });
    }
  }
  return { index, waitMs };
}

/** What {@link BlockingWaits} needs. */
export interface BlockingWaitsOptions {
  readonly clock: Clock;
  /** Waits allowed at once; one more answers 429. */
  readonly max: number;
  /** `[0, 1)`; spreads the timeouts of waits started together by ±1/16. */
  readonly random: () => number;
}

/** What ends a wait early when its client goes away: the response's `close` event. */
export interface CloseSignal {
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

interface Waiter {
  readonly resolve: () => void;
  cleanup: () => void;
}

/**
 * The parked blocking queries: each waits for one notification from its topic, for its wait time
 * (jittered by ±1/16 so that clients started together do not come back together), for its client
 * to go away, or for {@link BlockingWaits.close}, whichever is first, then answers with the result
 * as it is then.
 */
export class BlockingWaits {
  readonly #clock: Clock;
  readonly #max: number;
  readonly #random: () => number;
  readonly #waiters = new Set<Waiter>();

  constructor(options: BlockingWaitsOptions) {
    this.#clock = options.clock;
    this.#max = options.max;
    this.#random = options.random;
  }

  /** Waits now parked. */
  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Parks until the topic `subscribe` attaches to changes, `waitMs` (jittered) passes, `res`
   * (the response) closes, or the server closes. Throws a 429 {@link HttpProblem} when the limit
   * is reached.
   */
  wait(
    subscribe: (listener: ChangeListener) => Unsubscribe,
    waitMs: number,
    res: CloseSignal,
  ): Promise<void> {
    if (this.#waiters.size >= this.#max) {
      throw HttpProblem.limit(429, `${this.#max} blocking queries are already waiting`, 1000);
    }
    return new Promise((resolve) => {
      const jitter = waitMs * ((this.#random() * 2 - 1) / 16);
      let done = false;
      const waiter: Waiter = {
        resolve: () => {
          if (done) return;
          done = true;
          waiter.cleanup();
          resolve();
        },
        cleanup: () => {},
      };
      const unsubscribe = subscribe({ onChange: waiter.resolve });
      const timer = this.#clock.setTimeout(waiter.resolve, Math.max(0, waitMs + jitter));
      res.once("close", waiter.resolve);
      waiter.cleanup = () => {
        unsubscribe();
        this.#clock.clearTimeout(timer);
        res.off("close", waiter.resolve);
        this.#waiters.delete(waiter);
      };
      this.#waiters.add(waiter);
    });
  }

  /** Answers every parked query now (with its current result). */
  close(): void {
    for (const waiter of [...this.#waiters]) waiter.resolve();
  }
}
