import { FlotillaError } from "@flotilla/resilience";

const kServiceError = Symbol.for("flotilla.service.serviceError");

/** The stable codes of the problems a Flotilla service answers with. */
export const ServiceErrorCode = {
  /** A request whose params, query, body or Flotilla headers do not match the route's schemas (400). */
  Validation: "FLT_SERVICE_VALIDATION",
  /** A body that is not JSON, empty JSON or a wrong `Content-Length` (400). */
  MalformedBody: "FLT_SERVICE_MALFORMED_BODY",
  /** A body over the server's `bodyLimit` (413). */
  BodyTooLarge: "FLT_SERVICE_BODY_TOO_LARGE",
  /** A body with a content type other than JSON (415). */
  UnsupportedMediaType: "FLT_SERVICE_UNSUPPORTED_MEDIA_TYPE",
  /** Another malformed request that HTTP parsing refused (400). */
  BadRequest: "FLT_SERVICE_BAD_REQUEST",
  /** No route for this method and path (404). */
  RouteNotFound: "FLT_SERVICE_ROUTE_NOT_FOUND",
  /** The request's deadline passed before or while it was handled (504). */
  DeadlineExceeded: "FLT_DEADLINE_EXCEEDED",
  /** A request with the idempotency key of a request still running (409). */
  IdempotencyInProgress: "FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS",
  /** An idempotency key reused with another request (422). */
  IdempotencyMismatch: "FLT_SERVICE_IDEMPOTENCY_MISMATCH",
  /** The handler returned a value its response schema refuses (500, when responses are validated). */
  ResponseInvalid: "FLT_SERVICE_RESPONSE_INVALID",
  /** A handler bug or an unexpected error (500). */
  Internal: "FLT_SERVICE_INTERNAL",
  /** The instance is shutting down and takes no new requests (503). */
  ShuttingDown: "FLT_SERVICE_SHUTTING_DOWN",
  /** `ctx.db` used by a service that declares no database. */
  NoDatabase: "FLT_SERVICE_NO_DATABASE",
  /** Default codes of {@link problem} by status. */
  Unauthorized: "FLT_SERVICE_UNAUTHORIZED",
  Forbidden: "FLT_SERVICE_FORBIDDEN",
  NotFound: "FLT_SERVICE_NOT_FOUND",
  Conflict: "FLT_SERVICE_CONFLICT",
  Unprocessable: "FLT_SERVICE_UNPROCESSABLE",
  RateLimited: "FLT_SERVICE_RATE_LIMITED",
  Unavailable: "FLT_SERVICE_UNAVAILABLE",
  /** The service failed to start (database, migrations, listen, registration). */
  StartFailed: "FLT_SERVICE_START_FAILED",
} as const;

/** One of {@link ServiceErrorCode}'s values. */
export type ServiceErrorCode = (typeof ServiceErrorCode)[keyof typeof ServiceErrorCode];

/** One failing input of a request, by path (`body.quantity`, `params.sku`, `query.limit`). */
export interface ProblemIssue {
  readonly path: string;
  readonly message: string;
}

/** What {@link ServiceError} takes. */
export interface ServiceErrorInit {
  /** HTTP status, 400–599. */
  readonly status: number;
  /** Stable machine-readable code; default by status (`FLT_SERVICE_NOT_FOUND` for 404 …). */
  readonly code?: string;
  /** Short summary of the problem type; default the status's reason phrase. */
  readonly title?: string;
  /** This occurrence, for people. */
  readonly detail: string;
  /** Failing inputs, for 400-type problems. */
  readonly issues?: readonly ProblemIssue[];
  /** Extra response headers (`retry-after`, `www-authenticate`); lower-case names. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Extra members of the problem document (RFC 9457 §3.2 extensions), such as `{ sku }`. */
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

const titles: Readonly<Record<number, string>> = {
  400: "Bad request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  409: "Conflict",
  410: "Gone",
  412: "Precondition failed",
  413: "Content too large",
  415: "Unsupported media type",
  422: "Unprocessable content",
  429: "Too many requests",
  500: "Internal server error",
  501: "Not implemented",
  502: "Bad gateway",
  503: "Service unavailable",
  504: "Gateway timeout",
};

const defaultCodes: Readonly<Record<number, string>> = {
  400: ServiceErrorCode.BadRequest,
  401: ServiceErrorCode.Unauthorized,
  403: ServiceErrorCode.Forbidden,
  404: ServiceErrorCode.NotFound,
  409: ServiceErrorCode.Conflict,
  413: ServiceErrorCode.BodyTooLarge,
  415: ServiceErrorCode.UnsupportedMediaType,
  422: ServiceErrorCode.Unprocessable,
  429: ServiceErrorCode.RateLimited,
  500: ServiceErrorCode.Internal,
  503: ServiceErrorCode.Unavailable,
  504: ServiceErrorCode.DeadlineExceeded,
};

/**
 * An error that is an HTTP answer: thrown by a handler or a pipeline step, it is written as an
 * RFC 9457 `application/problem+json` document with its status, code and headers instead of a
 * 500. Build one with {@link problem}.
 *
 * ```ts
 * if (row === undefined) throw problem(404, `no sku ${sku}`);
 * throw problem(409, "out of stock", { code: "INVENTORY_OUT_OF_STOCK", extensions: { sku } });
 * ```
 */
export class ServiceError extends FlotillaError {
  /** HTTP status. */
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly issues: readonly ProblemIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>>;

  /** Throws a `RangeError` for a status outside 400–599. */
  constructor(init: ServiceErrorInit) {
    if (!(Number.isInteger(init.status) && init.status >= 400 && init.status <= 599)) {
      throw new RangeError(`a problem's status must be a whole number from 400 to 599, got ${init.status}`);
    }
    const code = init.code ?? defaultCodes[init.status] ?? `FLT_SERVICE_HTTP_${init.status}`;
    const title = init.title ?? titles[init.status] ?? `HTTP ${init.status}`;
    super(code, `${init.status} ${title}: ${init.detail}`, { cause: init.cause });
    this.status = init.status;
    this.title = title;
    this.detail = init.detail;
    this.issues = init.issues;
    this.headers = init.headers ?? {};
    this.extensions = init.extensions ?? {};
    Object.defineProperty(this, kServiceError, { value: true });
  }

  // FlotillaError's check is true for every coded error; a ServiceError is only what was built as one.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isServiceError(value);
  }

  /**
   * A copy with `extensions` added to (and overriding) this one's; the server adds the answering
   * `service` and `instance` this way.
   */
  withExtensions(extensions: Readonly<Record<string, unknown>>): ServiceError {
    const copy = new ServiceError({
      status: this.status,
      code: this.code,
      title: this.title,
      detail: this.detail,
      headers: this.headers,
      extensions: { ...this.extensions, ...extensions },
      cause: this.cause,
      ...(this.issues === undefined ? {} : { issues: this.issues }),
    });
    if (this.stack !== undefined) copy.stack = this.stack;
    return copy;
  }

  /**
   * The problem document: `{ type, title, status, detail, code, issues?, …extensions }`. The
   * server adds `service` and `instance` (the answering instance), and for an error of a
   * downstream call `cause`, the downstream problem document.
   */
  toJSON(): Record<string, unknown> {
    return {
      ...this.extensions,
      type: problemType(this.code),
      title: this.title,
      status: this.status,
      detail: this.detail,
      code: this.code,
      ...(this.issues === undefined ? {} : { issues: this.issues }),
    };
  }
}

/** True for a {@link ServiceError}, from any copy of this package. */
export function isServiceError(value: unknown): value is ServiceError {
  return (
    typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kServiceError] === true
  );
}

/**
 * Builds a {@link ServiceError} to throw from a handler or pipeline step:
 * `throw problem(404, "no such reservation")`, or with options
 * `problem(429, "slow down", { headers: { "retry-after": "2" } })`.
 */
export function problem(
  status: number,
  detail: string,
  options: Omit<ServiceErrorInit, "status" | "detail"> = {},
): ServiceError {
  return new ServiceError({ ...options, status, detail });
}

/** The problem `type` URI of a code: `https://flotilla.dev/problems/flt-service-validation`. */
export function problemType(code: string): string {
  return `https://flotilla.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`;
}
