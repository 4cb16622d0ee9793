import { ErrorCode, isFlotillaError } from "@flotilla/resilience";
import { isServiceError, ServiceError, ServiceErrorCode } from "./service-error.js";

/** The `Content-Type` of problem answers (RFC 9457). */
export const problemContentType = "application/problem+json; charset=utf-8";

/** The `Content-Type` of JSON answers. */
export const jsonContentType = "application/json; charset=utf-8";

/**
 * What the request pipeline produces and the server writes: a status, a JSON body (or none), and
 * headers. A step that ends a request early returns one (or throws a {@link ServiceError}).
 */
export interface ServiceResponse {
  readonly status: number;
  /** Any JSON-serialisable value; `undefined` sends no body. */
  readonly body?: unknown;
  /** The body already serialised (a replayed idempotent answer); wins over `body`. */
  readonly json?: string | undefined;
  /** Default `application/json`, or `application/problem+json` for a problem. */
  readonly contentType?: string | undefined;
  /** Extra headers, lower-case names. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** The answer for a {@link ServiceError}. */
export function problemResponse(error: ServiceError): ServiceResponse {
  return { status: error.status, body: error, contentType: problemContentType, headers: error.headers };
}

/**
 * The {@link ServiceError} to answer for anything a handler or step threw: itself for a
 * `ServiceError`; 504 for a spent deadline or a timeout of a downstream call (`FLT_DEADLINE_EXCEEDED`,
 * `FLT_TIMEOUT`); 503 for a downstream policy that refused the call (open breaker, full bulkhead,
 * rate limit), keeping its code; 500 `FLT_SERVICE_INTERNAL` for anything else, with no detail of the
 * error (it is logged instead).
 */
export function toServiceError(error: unknown, traceId?: string): ServiceError {
  if (isServiceError(error)) return error;
  if (isFlotillaError(error)) {
    switch (error.code) {
      case ErrorCode.DeadlineExceeded:
      case ErrorCode.Timeout:
        return new ServiceError({
          status: 504,
          code: error.code,
          detail: error.message,
          cause: error,
        });
      case ErrorCode.BreakerOpen:
      case ErrorCode.BulkheadFull:
      case ErrorCode.BulkheadQueueTimeout:
      case ErrorCode.RateLimited:
        return new ServiceError({ status: 503, code: error.code, detail: error.message, cause: error });
    }
  }
  return new ServiceError({
    status: 500,
    code: ServiceErrorCode.Internal,
    detail:
      traceId === undefined
        ? "the request failed with an internal error"
        : `the request failed with an internal error; trace ${traceId}`,
    cause: error,
    ...(traceId === undefined ? {} : { extensions: { traceId } }),
  });
}

/**
 * The answer for an error thrown inside the pipeline; 5xx answers are logged with the error (and
 * the trace id, which the logger adds while the request's span is active).
 */
export function errorResponse(
  error: unknown,
  ctx: {
    readonly logger: { error(fields: object, message: string): void };
    readonly traceId: string | undefined;
  },
): ServiceResponse {
  const problem = toServiceError(error, ctx.traceId);
  if (problem.status >= 500) {
    ctx.logger.error({ err: error, code: problem.code, status: problem.status }, "request failed");
  }
  return problemResponse(problem);
}
