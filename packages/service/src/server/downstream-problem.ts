import { isFlotillaError } from "@flotilla/resilience";
import { isRemoteServiceError, ServiceClientErrorCode } from "../client/service-client-error.js";
import { isServiceError, ServiceError } from "./service-error.js";

/**
 * The answer for a downstream call's error that a handler let escape, or `undefined` when
 * `error` is not one:
 * - `RemoteServiceError` (the callee answered an error) → 502 `FLT_SERVICE_REMOTE`, with the
 *   callee's problem document as `cause`, so the cause chain travels to the caller's caller;
 * - `ServiceNoInstanceError` → 503 `FLT_SERVICE_NO_INSTANCE`;
 * - `ServiceConnectionError`, `ServiceBadResponseError` → 502 with their codes.
 *
 * Policy errors (open breaker, timeout, spent deadline, full bulkhead) are answered by
 * `toServiceError` (503 / 504).
 */
export function downstreamProblem(error: unknown): ServiceError | undefined {
  // A ServiceError answering for one already carries the downstream code: it is not one itself.
  if (!isFlotillaError(error) || isServiceError(error)) return undefined;
  if (isRemoteServiceError(error)) {
    const cause = error.problem ?? {
      service: error.service,
      status: error.status,
      ...(error.detail === undefined ? {} : { detail: error.detail }),
    };
    return new ServiceError({
      status: 502,
      code: error.code,
      detail: error.message,
      extensions: { cause },
      cause: error,
    });
  }
  switch (error.code) {
    case ServiceClientErrorCode.NoInstance:
      return new ServiceError({ status: 503, code: error.code, detail: error.message, cause: error });
    case ServiceClientErrorCode.Connection:
    case ServiceClientErrorCode.BadResponse:
      return new ServiceError({ status: 502, code: error.code, detail: error.message, cause: error });
  }
  return undefined;
}
