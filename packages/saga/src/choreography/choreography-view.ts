import type { SagaState } from "../saga-state.js";
import type { ChoreographyRole } from "./define-choreography.js";

/** One event a {@link ChoreographyView} has seen, as JSON. */
export interface ChoreographyEventView {
  /** The event type (the "step" of a choreography). */
  readonly step: string;
  /** What the event meant for the flow. */
  readonly role: ChoreographyRole;
  readonly eventId: string;
  /** The CloudEvents `source`: the service that published it. */
  readonly source: string;
  /** When the event happened (its `time`), RFC 3339. */
  readonly time: string;
  /** When the tracker recorded it, RFC 3339. */
  readonly receivedAt: string;
}

/**
 * A choreographed saga instance as the tracker shows it, as JSON: the same top-level fields as
 * an orchestrated saga's view (`id`, `type`, `state` with `SagaState` values, `correlationId`,
 * `createdAt`, `updatedAt`, `endedAt`, `error`, `steps`), with `style: "choreography"` and the
 * events seen, oldest first, as its steps.
 */
export interface ChoreographyView {
  /** The correlation id of the flow. */
  readonly id: string;
  readonly style: "choreography";
  /** The choreography's type. */
  readonly type: string;
  readonly state: SagaState;
  readonly correlationId: string;
  /** Time of the earliest event seen, RFC 3339. */
  readonly createdAt: string;
  /** When the tracker last recorded an event, RFC 3339. */
  readonly updatedAt: string;
  /** When the tracker saw the flow end, RFC 3339; `null` while it runs. */
  readonly endedAt: string | null;
  /** The type of the event that made it compensate or fail, `null` otherwise. */
  readonly error: string | null;
  readonly steps: readonly ChoreographyEventView[];
}

/** Filters of `ChoreographyTracker.list`. */
export interface ChoreographyListFilter {
  /** Only this choreography type. */
  readonly type?: string;
  /** Only these states. */
  readonly state?: SagaState | readonly SagaState[];
  /** Only flows that need an operator (`FAILED_COMPENSATION`); combined with `state` it narrows it. */
  readonly failedOnly?: boolean;
  /** Only flows whose first event is at or after this time. */
  readonly from?: Date | string;
  /** Only flows whose first event is before this time. */
  readonly to?: Date | string;
  /** Most instances returned, newest first. Default 50, at most 500. */
  readonly limit?: number;
  /** Instances skipped (for paging). Default 0. */
  readonly offset?: number;
}
