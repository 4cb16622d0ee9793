import type { BreakerState } from "./breaker-state.js";

/**
 * What a circuit breaker reports on its `events` stream, after Resilience4j's event publisher.
 * Every event carries the breaker's `name`. In `DISABLED` and `FORCED_OPEN` only
 * `stateTransition` and `reset` are emitted, as in Resilience4j.
 */
export type BreakerEvent =
  /** The state changed (automatically or by a manual transition). */
  | {
      readonly type: "stateTransition";
      readonly name: string;
      readonly from: BreakerState;
      readonly to: BreakerState;
    }
  /**
   * A call was recorded as a success (including an error that `recordExceptions` rejected).
   * `durationMs` is 0 when the call was not timed (no finite slow-call threshold and no listener
   * when it started).
   */
  | { readonly type: "success"; readonly name: string; readonly durationMs: number }
  /**
   * A call was recorded as a failure. When `fromResult` is true the operation returned normally and
   * `recordResult` classified its value, which is then carried in `error`.
   */
  | {
      readonly type: "error";
      readonly name: string;
      readonly error: unknown;
      readonly durationMs: number;
      readonly fromResult: boolean;
    }
  /** An error matched `ignoreExceptions`: its permit was released and nothing was recorded. */
  | {
      readonly type: "ignoredError";
      readonly name: string;
      readonly error: unknown;
      readonly durationMs: number;
    }
  /** A call was rejected; `state` is the state that refused it. */
  | { readonly type: "notPermitted"; readonly name: string; readonly state: BreakerState }
  /** The failure rate reached `failureRateThreshold` (emitted when it opens the breaker, or once in `METRICS_ONLY`). */
  | { readonly type: "failureRateExceeded"; readonly name: string; readonly failureRate: number }
  /** The slow-call rate reached `slowCallRateThreshold` (emitted when it opens the breaker, or once in `METRICS_ONLY`). */
  | { readonly type: "slowCallRateExceeded"; readonly name: string; readonly slowCallRate: number }
  /** `reset()` was called. */
  | { readonly type: "reset"; readonly name: string };

/** The `type` of a {@link BreakerEvent}. */
export type BreakerEventType = BreakerEvent["type"];
