import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** Stable codes of {@link SagaError}. */
export const SagaErrorCode = {
  /** Saga input failed its zod schema; nothing was written. */
  InputInvalid: "FLT_SAGA_INPUT_INVALID",
  /** A saga definition is malformed (duplicate step names, bad options…). */
  DefinitionInvalid: "FLT_SAGA_DEFINITION_INVALID",
  /** Orchestrator, store or API options are invalid. */
  OptionsInvalid: "FLT_SAGA_OPTIONS_INVALID",
  /** A step's invocation failed (after its retries). */
  StepFailed: "FLT_SAGA_STEP_FAILED",
  /** A step's result is not JSON-serialisable or fails its `result` schema. */
  ResultInvalid: "FLT_SAGA_RESULT_INVALID",
  /** A step exceeded its timeout. */
  StepTimeout: "FLT_SAGA_STEP_TIMEOUT",
  /** The saga-level deadline passed. */
  DeadlineExceeded: "FLT_SAGA_DEADLINE_EXCEEDED",
  /** A compensation kept failing; the saga is `FAILED_COMPENSATION`. */
  CompensationFailed: "FLT_SAGA_COMPENSATION_FAILED",
  /** This instance no longer holds the saga's lease (another instance took it over). */
  LeaseLost: "FLT_SAGA_LEASE_LOST",
  /** No saga with this id. */
  NotFound: "FLT_SAGA_NOT_FOUND",
  /** The saga's type is not registered with this orchestrator. */
  UnknownType: "FLT_SAGA_UNKNOWN_TYPE",
  /** The requested operation is not allowed in the saga's current state. */
  InvalidState: "FLT_SAGA_INVALID_STATE",
  /** The orchestrator is closed or not started. */
  Closed: "FLT_SAGA_CLOSED",
  /** A command step's reply did not arrive in time or was a failure. */
  CommandFailed: "FLT_SAGA_COMMAND_FAILED",
} as const;

/** One of the {@link SagaErrorCode} values. */
export type SagaErrorCode = (typeof SagaErrorCode)[keyof typeof SagaErrorCode];

/** Details attached to a {@link SagaError}. */
export interface SagaErrorDetails {
  /** The saga instance concerned, when known. */
  readonly sagaId?: string;
  /** The saga type concerned, when known. */
  readonly sagaType?: string;
  /** The step concerned, when known. */
  readonly step?: string;
  /** Paths and messages of invalid input, for `FLT_SAGA_INPUT_INVALID` / `FLT_SAGA_OPTIONS_INVALID`. */
  readonly issues?: readonly { readonly path: string; readonly message: string }[];
}

/**
 * Error thrown by `@flotilla/saga`. `code` is one of {@link SagaErrorCode}.
 *
 * @example
 * try { await orch.startSaga(orderSaga, input); }
 * catch (err) { if (err instanceof SagaError && err.code === SagaErrorCode.InputInvalid) console.log(err.issues); }
 */
export class SagaError extends FlotillaError {
  override readonly code: SagaErrorCode;
  /** Saga id, when the error concerns one instance. */
  readonly sagaId: string | undefined;
  /** Saga type, when known. */
  readonly sagaType: string | undefined;
  /** Step name, when the error concerns one step. */
  readonly step: string | undefined;
  /** Invalid paths, for validation errors. */
  readonly issues: readonly { readonly path: string; readonly message: string }[];

  constructor(
    code: SagaErrorCode,
    message: string,
    details: SagaErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.code = code;
    this.sagaId = details.sagaId;
    this.sagaType = details.sagaType;
    this.step = details.step;
    this.issues = details.issues ?? [];
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isFlotillaError(value) && typeof value.code === "string" && value.code.startsWith("FLT_SAGA_");
  }
}

/** True when `value` is a {@link SagaError}, optionally with the given code. */
export function isSagaError(value: unknown, code?: SagaErrorCode): value is SagaError {
  return value instanceof SagaError && (code === undefined || value.code === code);
}
