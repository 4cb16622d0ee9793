import type { ChoreographyEventView, ChoreographyView } from "../choreography/choreography-view.js";
import type { ChoreographyRole } from "../choreography/define-choreography.js";
import type { SagaState } from "../saga-state.js";
import type { StepKind } from "../saga-step-key.js";
import type { SagaRow, SagaStepRow } from "../store/saga-row.js";

/**
 * One entry of a saga's step history as the saga API shows it. For an orchestrated saga, one
 * entry per step log record (an invocation or a compensation, after its attempts). For a
 * choreographed saga, one entry per event seen: `step` is the event type, `kind` is
 * `"compensate"` for compensation events, `startedAt` and `endedAt` are the event's time.
 */
export interface SagaStepView {
  readonly step: string;
  readonly kind: StepKind;
  readonly status: "succeeded" | "failed";
  /** Attempts the entry took (1 for an event). */
  readonly attempt: number;
  /** RFC 3339. */
  readonly startedAt: string;
  /** RFC 3339. */
  readonly endedAt: string;
  readonly error: string | null;
  /** The invocation's result (`null` for compensations and events). */
  readonly result: unknown;
  /** Choreography only: the event's role in the flow, its id and its source. `null` for orchestrated steps. */
  readonly role: ChoreographyRole | null;
  readonly eventId: string | null;
  readonly source: string | null;
}

/**
 * A saga as the saga API shows it, the same shape for both styles. Fields an orchestrated saga
 * has and a choreographed one does not (`input`, `data`, `position`, `attempts`, `deadline`,
 * `leaseOwner`, `leaseUntil`, `version`) are `null` for the latter. `steps` is present in the
 * view of one saga, not in lists.
 */
export interface SagaView {
  /** The saga id (orchestration) or the correlation id (choreography). */
  readonly id: string;
  readonly style: "orchestration" | "choreography";
  readonly type: string;
  readonly state: SagaState;
  readonly correlationId: string | null;
  /** RFC 3339. */
  readonly createdAt: string;
  /** RFC 3339. */
  readonly updatedAt: string;
  /** RFC 3339; `null` while the saga runs (and for FAILED_COMPENSATION). */
  readonly endedAt: string | null;
  /** The last error recorded (the event type that made a choreography compensate or fail). */
  readonly error: string | null;
  readonly version: number | null;
  /** Index of the next node to run (or, compensating, the nodes below it left to undo). */
  readonly position: number | null;
  /** Failed attempts of the current step or compensation. */
  readonly attempts: number | null;
  readonly deadline: string | null;
  readonly leaseOwner: string | null;
  readonly leaseUntil: string | null;
  readonly input: unknown;
  /** Results of the completed steps by step name. */
  readonly data: unknown;
  readonly steps?: readonly SagaStepView[];
}

/** The view of an orchestrated saga; with `steps` (its step log) for the view of one saga. */
export function orchestratedSagaView(row: SagaRow, steps?: readonly SagaStepRow[]): SagaView {
  return {
    id: row.id,
    style: "orchestration",
    type: row.type,
    state: row.state,
    correlationId: row.correlationId,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
    error: row.error,
    version: row.version,
    position: row.position,
    attempts: row.attempts,
    deadline: row.deadline?.toISOString() ?? null,
    leaseOwner: row.leaseOwner,
    leaseUntil: row.leaseUntil?.toISOString() ?? null,
    input: row.input,
    data: row.data,
    ...(steps === undefined ? {} : { steps: steps.map(stepView) }),
  };
}

/** The view of a choreographed saga (from a `ChoreographyTracker`); `withSteps` for the view of one saga. */
export function choreographedSagaView(view: ChoreographyView, withSteps: boolean): SagaView {
  return {
    id: view.id,
    style: "choreography",
    type: view.type,
    state: view.state,
    correlationId: view.correlationId,
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    endedAt: view.endedAt,
    error: view.error,
    version: null,
    position: null,
    attempts: null,
    deadline: null,
    leaseOwner: null,
    leaseUntil: null,
    input: null,
    data: null,
    ...(withSteps ? { steps: view.steps.map(eventStepView) } : {}),
  };
}

function stepView(step: SagaStepRow): SagaStepView {
  return {
    step: step.step,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt,
    startedAt: step.startedAt.toISOString(),
    endedAt: step.endedAt.toISOString(),
    error: step.error,
    result: step.result ?? null,
    role: null,
    eventId: null,
    source: null,
  };
}

function eventStepView(event: ChoreographyEventView): SagaStepView {
  return {
    step: event.step,
    kind: event.role === "compensating" || event.role === "compensated" ? "compensate" : "invoke",
    status: event.role === "failed" ? "failed" : "succeeded",
    attempt: 1,
    startedAt: event.time,
    endedAt: event.time,
    error: event.role === "failed" ? event.step : null,
    result: null,
    role: event.role,
    eventId: event.eventId,
    source: event.source,
  };
}
