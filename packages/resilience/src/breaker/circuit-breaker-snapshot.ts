import type { BreakerState } from "./breaker-state.js";

/**
 * A circuit breaker's metrics at one moment, as plain numbers (Resilience4j's `Metrics`). The
 * counts describe the window in use: the closed-state window, or in `HALF_OPEN` the probe window.
 * `OPEN` keeps showing the window that opened it.
 */
export interface CircuitBreakerSnapshot {
  /** The current state. */
  readonly state: BreakerState;
  /** Failed calls in percent of buffered calls; -1 while fewer than the minimum number of calls are buffered. */
  readonly failureRate: number;
  /** Slow calls in percent of buffered calls; -1 while fewer than the minimum number of calls are buffered. */
  readonly slowCallRate: number;
  /** Calls in the window. */
  readonly bufferedCalls: number;
  /** Failed calls in the window (slow or not). */
  readonly failedCalls: number;
  /** Slow calls in the window (failed or not). */
  readonly slowCalls: number;
  /** Calls in the window that were slow and failed. */
  readonly slowFailedCalls: number;
  /** Calls in the window that were slow and succeeded. */
  readonly slowSuccessfulCalls: number;
  /** Calls in the window that succeeded (slow or not). */
  readonly successfulCalls: number;
  /** Calls rejected since the window was last cleared. */
  readonly notPermittedCalls: number;
  /** Permitted calls that have not completed yet. */
  readonly inFlight: number;
}
