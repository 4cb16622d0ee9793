import type { EventDefinition } from "@flotilla/messaging";
import { isEventDefinition } from "@flotilla/messaging";
import { SagaError, SagaErrorCode } from "../saga-error.js";

/**
 * What an event means for a choreographed saga's state:
 * - `start`: the flow began;
 * - `step`: progress (a step done);
 * - `compensating`: something failed and the services are undoing their work;
 * - `completed`, `compensated`, `failed`: the flow ended (failed: it could not be undone fully).
 */
export type ChoreographyRole = "start" | "step" | "compensating" | "completed" | "compensated" | "failed";

/** What {@link defineChoreography} takes. */
export interface ChoreographyInit {
  /** The name of the flow, shown as the saga type (e.g. `order-fulfilment`). */
  readonly type: string;
  /** The event that starts an instance; its `correlationid` (else its id) names the instance. */
  readonly start: EventDefinition;
  /** Events that mark progress. Default none. */
  readonly steps?: readonly EventDefinition[];
  /** Events that mean a step failed and compensation is under way (`COMPENSATING`). Default none. */
  readonly compensating?: readonly EventDefinition[];
  /** Events that end the flow successfully (`COMPLETED`). At least one. */
  readonly completed: readonly EventDefinition[];
  /** Events that end the flow with every effect undone (`COMPENSATED`). Default none. */
  readonly compensated?: readonly EventDefinition[];
  /** Events that end the flow with effects that could not be undone (`FAILED_COMPENSATION`). Default none. */
  readonly failed?: readonly EventDefinition[];
}

/** A checked choreography: each event type it tracks, with its role. */
export interface ChoreographyDefinition {
  readonly type: string;
  /** The start event's type. */
  readonly start: string;
  /** Every tracked event type and its role, in the order given (start first). */
  readonly roles: ReadonlyMap<string, ChoreographyRole>;
  /** The tracked events, by type. */
  readonly events: ReadonlyMap<string, EventDefinition>;
}

const roleKeys = ["steps", "compensating", "completed", "compensated", "failed"] as const;
const roleOf: Record<(typeof roleKeys)[number], ChoreographyRole> = {
  steps: "step",
  compensating: "compensating",
  completed: "completed",
  compensated: "compensated",
  failed: "failed",
};

/**
 * Declares a choreographed saga for a {@link choreographyTracker}: which event starts an instance,
 * which mark its progress and which end it, so that the tracker can derive its state
 * (`RUNNING`, `COMPENSATING`, `COMPLETED`, `COMPENSATED`, `FAILED_COMPENSATION`) from the events it
 * sees. Each event type may have one role. Throws a `FLT_SAGA_DEFINITION_INVALID` `SagaError`
 * listing every problem with its path.
 *
 * @example
 * ```ts
 * const orderFlow = defineChoreography({
 *   type: "order-fulfilment",
 *   start: orderPlaced,
 *   steps: [paymentCharged, stockReserved, shipmentScheduled],
 *   compensating: [stockReservationFailed, paymentRefunded],
 *   completed: [orderConfirmed],
 *   compensated: [orderCancelled],
 * });
 * ```
 */
export function defineChoreography(init: ChoreographyInit): ChoreographyDefinition {
  const issues: { path: string; message: string }[] = [];
  const raw = (typeof init === "object" && init !== null ? init : {}) as Partial<Record<string, unknown>>;
  if (typeof raw.type !== "string" || raw.type === "") {
    issues.push({ path: "type", message: "expected a non-empty string" });
  }
  const roles = new Map<string, ChoreographyRole>();
  const events = new Map<string, EventDefinition>();
  const add = (value: unknown, path: string, role: ChoreographyRole) => {
    const event = value as Partial<EventDefinition> | undefined;
    if (!isEventDefinition(event)) {
      issues.push({ path, message: "expected a defineEvent() definition" });
      return;
    }
    const earlier = roles.get(event.type);
    if (earlier !== undefined) {
      issues.push({
        path,
        message: `"${event.type}" already has the role "${earlier}"; an event has one role`,
      });
      return;
    }
    roles.set(event.type, role);
    events.set(event.type, event as EventDefinition);
  };
  add(raw.start, "start", "start");
  for (const key of roleKeys) {
    const list = raw[key];
    if (list === undefined && key !== "completed") continue;
    if (!Array.isArray(list)) {
      issues.push({ path: key, message: "expected an array of defineEvent() definitions" });
      continue;
    }
    if (key === "completed" && list.length === 0) {
      issues.push({ path: key, message: "expected at least one event that completes the flow" });
    }
    for (const [index, event] of list.entries()) add(event, `${key}[${index}]`, roleOf[key]);
  }
  if (issues.length > 0) {
    const type = typeof raw.type === "string" ? ` "${raw.type}"` : "";
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      `invalid choreography${type}: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ")}`,
      { issues, ...(typeof raw.type === "string" ? { sagaType: raw.type } : {}) },
    );
  }
  return { type: init.type, start: init.start.type, roles, events };
}
