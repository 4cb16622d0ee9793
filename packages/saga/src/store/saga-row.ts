import type { SagaState } from "../saga-state.js";
import type { StepKind } from "../saga-step-key.js";

/** One saga instance as stored in `<schema>.sagas`. */
export interface SagaRow {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly state: SagaState;
  readonly input: unknown;
  /** Results of completed steps keyed by step name (partial results of a failed parallel group while compensating). */
  readonly data: Record<string, unknown>;
  /** RUNNING: index of the next node to run. COMPENSATING / FAILED_COMPENSATION: nodes below it may still need compensation. */
  readonly position: number;
  readonly deadline: Date | null;
  readonly error: string | null;
  /** Failed attempts of the current step or compensation, recorded on failure commits. */
  readonly attempts: number;
  readonly leaseOwner: string | null;
  readonly leaseUntil: Date | null;
  readonly rowVersion: number;
  readonly traceparent: string | null;
  readonly correlationId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly endedAt: Date | null;
  /** Milliseconds from the database's `now()` to `deadline` when read (negative: passed). */
  readonly deadlineInMs: number | null;
  /**
   * Steps (full names, `group.branch` in a parallel group) whose invocation failed with an uncertain
   * outcome (a timeout, a lost connection: not a definitive refusal): compensated, with `ctx.result`
   * undefined, like the completed steps.
   */
  readonly uncertainSteps: readonly string[];
  /** The first end state the saga reached (`FAILED_COMPENSATION` stays here after a resume), or null. */
  readonly firstEnd: SagaState | null;
}

/** One entry of a saga's step log (`<schema>.saga_steps`). */
export interface SagaStepRow {
  readonly sagaId: string;
  readonly seq: number;
  readonly step: string;
  readonly kind: StepKind;
  readonly status: "succeeded" | "failed";
  readonly attempt: number;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly error: string | null;
  readonly result: unknown;
}

/** A step log entry to write with a saga update. */
export type StepRecord = Omit<SagaStepRow, "sagaId" | "seq">;
