export { maxAbortReasonLength, maxSagaListLimit, sagaApi } from "./api/saga-api.js";
export type { SagaApiOptions } from "./api/saga-api-options.js";
export type { ChoreographyQuery, SagaAdmin, SagaApiSource } from "./api/saga-api-source.js";
export type { SagaStepView, SagaView } from "./api/saga-view.js";
export { choreographyState } from "./choreography/choreography-state.js";
export {
  ChoreographyTracker,
  type ChoreographyTrackerOptions,
  choreographyTracker,
} from "./choreography/choreography-tracker.js";
export type {
  ChoreographyEventView,
  ChoreographyListFilter,
  ChoreographyView,
} from "./choreography/choreography-view.js";
export {
  type ChoreographyDefinition,
  type ChoreographyInit,
  type ChoreographyRole,
  defineChoreography,
} from "./choreography/define-choreography.js";
export {
  emit,
  type Reaction,
  type ReactionContext,
  type ReactionMessage,
  type ReactionOutbox,
  type ReactOptions,
  react,
} from "./choreography/react.js";
export {
  type CommandCompensation,
  type CommandSender,
  CommandStep,
  type CommandStepOptions,
  type CompensateWithOptions,
  commandStep,
} from "./definition/command-step.js";
export { type DefineSagaOptions, defineSaga, SagaBuilder } from "./definition/define-saga.js";
export { jsonResult } from "./definition/json-result.js";
export type {
  AnySagaDefinition,
  ResolvedStep,
  SagaData,
  SagaDefinition,
  SagaInput,
  SagaNode,
} from "./definition/saga-definition.js";
export type {
  CompensateContext,
  NotifyFn,
  StepContext,
  StepOptions,
  StepResult,
  StepRetryOptions,
} from "./definition/step-options.js";
export { isDefinitiveFailure } from "./orchestrator/definitive-failure.js";
export {
  Orchestrator,
  type OrchestratorOptions,
  orchestrator,
  type StartSagaOptions,
} from "./orchestrator/orchestrator.js";
export { SagaMetrics } from "./orchestrator/saga-metrics.js";
export {
  type CompensatedInvocation,
  type IdempotentCommandOptions,
  idempotentCommand,
} from "./participant/idempotent-command.js";
export { type OncePerKeyOptions, oncePerKey } from "./participant/once-per-key.js";
export {
  type ParticipantCallContext,
  participantCallOptions,
} from "./participant/participant-call-options.js";
export {
  ParticipantInbox,
  type ParticipantInboxOptions,
  participantInbox,
} from "./participant/participant-inbox.js";
export {
  defaultParticipantTables,
  ParticipantTables,
  type ParticipantTablesOptions,
  participantTables,
} from "./participant/participant-tables.js";
export { sagaCompensatesHeader } from "./participant/saga-compensates-header.js";
export { sagaKeyHeader } from "./participant/saga-key-header.js";
export { isSagaError, SagaError, SagaErrorCode, type SagaErrorDetails } from "./saga-error.js";
export type { SagaLogger } from "./saga-logger.js";
export { activeSagaStates, isSagaState, isTerminalSagaState, SagaState, sagaStates } from "./saga-state.js";
export { type StepKind, sagaKeyNamespace, sagaStepKey, sagaStepMessageId, uuidV5 } from "./saga-step-key.js";
export type { SagaRow, SagaStepRow, StepRecord } from "./store/saga-row.js";
export {
  type ClaimedSaga,
  type NewSaga,
  type SagaListFilter,
  type SagaQueryable,
  SagaStore,
  type SagaUpdate,
  sagaStore,
} from "./store/saga-store.js";
