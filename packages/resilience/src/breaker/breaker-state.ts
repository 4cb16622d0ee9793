/**
 * The states of a circuit breaker, as in Resilience4j. `CLOSED`, `OPEN` and `HALF_OPEN` are the
 * automatic ones; `DISABLED`, `FORCED_OPEN` and `METRICS_ONLY` are entered only by a manual
 * transition and left only by another.
 */
export const BreakerState = {
  /** Calls pass and are recorded; the failure or slow-call rate reaching its threshold opens the breaker. */
  CLOSED: "CLOSED",
  /** Calls are rejected until the wait in the open state has elapsed. */
  OPEN: "OPEN",
  /** A fixed number of probe calls pass; their outcome closes or re-opens the breaker. */
  HALF_OPEN: "HALF_OPEN",
  /** Every call passes, nothing is recorded and no call event is emitted. */
  DISABLED: "DISABLED",
  /** Every call is rejected; no call event is emitted. */
  FORCED_OPEN: "FORCED_OPEN",
  /** Every call passes and is recorded, events are emitted, the state never changes by itself. */
  METRICS_ONLY: "METRICS_ONLY",
} as const;

/** One of {@link BreakerState}'s values. */
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];
