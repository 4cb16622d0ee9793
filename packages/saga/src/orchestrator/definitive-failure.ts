import { isPermanentError } from "@flotilla/messaging";
import { z } from "zod";
import { isSagaError, SagaErrorCode } from "../saga-error.js";

/**
 * Whether a step's failure is a definitive answer, so its effect certainly did not happen: a
 * `PermanentError` of `@flotilla/messaging` (the participant said no), `FLT_SAGA_COMMAND_FAILED`
 * (a failure reply), `FLT_SAGA_RESULT_INVALID` or a zod validation error (it answered garbage).
 * Anything else — a timeout, the saga deadline, a lost connection — leaves the outcome uncertain:
 * the step's `compensate` runs too.
 */
export function isDefinitiveFailure(error: unknown): boolean {
  if (isPermanentError(error) || error instanceof z.core.$ZodError) return true;
  return isSagaError(error, SagaErrorCode.CommandFailed) || isSagaError(error, SagaErrorCode.ResultInvalid);
}
