import { SagaState } from "../saga-state.js";
import type { ChoreographyRole } from "./define-choreography.js";

/**
 * The state of a choreographed saga from the roles of the events seen so far, whatever order they
 * arrived in: an ending event decides (`failed` over `compensated` over `completed`), else a
 * `compensating` event makes it `COMPENSATING`, else it is `RUNNING`.
 */
export function choreographyState(roles: Iterable<ChoreographyRole>): SagaState {
  const seen = new Set(roles);
  if (seen.has("failed")) return SagaState.FailedCompensation;
  if (seen.has("compensated")) return SagaState.Compensated;
  if (seen.has("completed")) return SagaState.Completed;
  if (seen.has("compensating")) return SagaState.Compensating;
  return SagaState.Running;
}
