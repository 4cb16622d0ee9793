// Which step failures are definitive (not compensated) and which leave the outcome uncertain.
import { PermanentError } from "@flotilla/messaging";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { isDefinitiveFailure } from "../src/orchestrator/definitive-failure.js";
import { SagaError, SagaErrorCode } from "../src/saga-error.js";

describe("isDefinitiveFailure", () => {
  const zodError = z.object({ id: z.string() }).safeParse({ id: 1 }).error;

  it.each([
    ["a PermanentError", new PermanentError("card declined"), true],
    ["a failed command", new SagaError(SagaErrorCode.CommandFailed, "refused"), true],
    ["an invalid result", new SagaError(SagaErrorCode.ResultInvalid, "garbage"), true],
    ["a zod error", zodError, true],
    ["a step timeout", new SagaError(SagaErrorCode.StepTimeout, "timed out"), false],
    ["the saga deadline", new SagaError(SagaErrorCode.DeadlineExceeded, "deadline"), false],
    ["a plain error", new Error("connection reset"), false],
    ["a thrown string", "boom", false],
  ])("%s → %s", (_, error, definitive) => {
    expect(isDefinitiveFailure(error)).toBe(definitive);
  });
});
