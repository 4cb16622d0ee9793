/**
 * Lifecycle states of a saga instance.
 *
 * - `RUNNING`: steps are being executed forward.
 * - `COMPENSATING`: a step failed (or the deadline passed) before the pivot; completed steps are undone in reverse.
 * - `COMPLETED`: every step succeeded (terminal).
 * - `COMPENSATED`: every completed step was compensated (terminal).
 * - `FAILED_COMPENSATION`: a compensation kept failing; needs an operator (resume or abort).
 * - `ABORTED`: an operator gave up on the saga (terminal).
 */
export const SagaState = {
  Running: "RUNNING",
  Compensating: "COMPENSATING",
  Completed: "COMPLETED",
  Compensated: "COMPENSATED",
  FailedCompensation: "FAILED_COMPENSATION",
  Aborted: "ABORTED",
} as const;

/** One of the {@link SagaState} values. */
export type SagaState = (typeof SagaState)[keyof typeof SagaState];

/** Every saga state, in lifecycle order. */
export const sagaStates: readonly SagaState[] = Object.values(SagaState);

/** States in which an orchestrator still has work to do (claimable). */
export const activeSagaStates: readonly SagaState[] = [SagaState.Running, SagaState.Compensating];

/** True for states an orchestrator never leaves by itself. */
export function isTerminalSagaState(state: SagaState): boolean {
  return state === SagaState.Completed || state === SagaState.Compensated || state === SagaState.Aborted;
}

/** True when `value` is one of the {@link SagaState} values. */
export function isSagaState(value: unknown): value is SagaState {
  return typeof value === "string" && (sagaStates as readonly string[]).includes(value);
}
