import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable codes of the errors a service client throws (besides the resilience policies' own). */
export const ServiceClientErrorCode = {
  /** The callee answered 2xx with a body that is not JSON or does not match the route's response schema. */
  BadResponse: "FLT_SERVICE_BAD_RESPONSE",
  /** The callee answered with an error status (its problem+json, if any, is on the error). */
  Remote: "FLT_SERVICE_REMOTE",
  /** No instance of the service (in the required version range) is known. */
  NoInstance: "FLT_SERVICE_NO_INSTANCE",
  /** The request failed without a response: refused, reset, closed. */
  Connection: "FLT_SERVICE_CONNECTION",
  /** A fallback queued the call for later instead of answering now. */
  CallQueued: "FLT_SERVICE_CALL_QUEUED",
  /** The call cannot be made as given: a path parameter is missing, or the input fails the route's schemas. */
  InvalidCall: "FLT_SERVICE_INVALID_CALL",
  /** The clients were closed. */
  ClientsClosed: "FLT_SERVICE_CLIENTS_CLOSED",
} as const;

/** One of {@link ServiceClientErrorCode}'s values. */
export type ServiceClientErrorCode = (typeof ServiceClientErrorCode)[keyof typeof ServiceClientErrorCode];

function hasCode(value: unknown, code: string): boolean {
  return isFlotillaError(value) && value.code === code;
}

/** One schema problem: where (`items.0.sku`) and why. */
export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
  /** zod's issue code (`invalid_type`, `too_small`, …). */
  readonly code: string;
}

/**
 * The callee answered with a success status but its body is not JSON, or does not match the
 * route's response schema: the client never hands back a value its type does not describe.
 */
export class ServiceBadResponseError extends FlotillaError {
  /** The callee service. */
  readonly service: string;
  /** The route (`reserve`), or `METHOD /path` for an untyped call. */
  readonly route: string;
  /** The HTTP status of the response. */
  readonly status: number;
  /** The instance that answered. */
  readonly instance: string | undefined;
  /** The schema problems; empty when the body was not JSON (the parse error is the `cause`). */
  readonly issues: readonly SchemaIssue[];

  constructor(init: {
    service: string;
    route: string;
    status: number;
    instance?: string | undefined;
    issues?: readonly SchemaIssue[];
    reason: string;
    cause?: unknown;
  }) {
    super(
      ServiceClientErrorCode.BadResponse,
      `${init.service} ${init.route}: bad response (status ${init.status}): ${init.reason}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.service = init.service;
    this.route = init.route;
    this.status = init.status;
    this.instance = init.instance;
    this.issues = init.issues ?? [];
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.BadResponse);
  }
}

/**
 * The callee answered with an error status. Built from its RFC 9457 `application/problem+json`
 * body when it sent one (`type`, `title`, `detail`, `code`, `service`), else from the status and
 * the start of the body. The remote cause chain (the problem's `cause`, as the callee got it from
 * its own dependencies) becomes this error's `cause`: a `RemoteServiceError` per hop.
 */
export class RemoteServiceError extends FlotillaError {
  /** The service that failed: the callee, or for an error in the cause chain the service the problem names. */
  readonly service: string;
  /** The instance that answered (undefined for errors of the cause chain). */
  readonly instance: string | undefined;
  /** The HTTP status. */
  readonly status: number;
  /** The problem's `code` (`FLT_…` or the callee's own), when it sent one. */
  readonly remoteCode: string | undefined;
  /** The problem's `type` URI. */
  readonly type: string | undefined;
  /** The problem's `title`. */
  readonly title: string | undefined;
  /** The problem's `detail`, or the start of a body that was not a problem. */
  readonly detail: string | undefined;
  /** The wait a `Retry-After` asked for, in milliseconds; read by the retry policy. */
  readonly retryAfterMs: number | undefined;
  /** The whole problem body, when it was one. */
  readonly problem: Readonly<Record<string, unknown>> | undefined;

  constructor(init: {
    service: string;
    instance?: string | undefined;
    status: number;
    remoteCode?: string | undefined;
    type?: string | undefined;
    title?: string | undefined;
    detail?: string | undefined;
    retryAfterMs?: number | undefined;
    problem?: Readonly<Record<string, unknown>> | undefined;
    cause?: unknown;
  }) {
    const what = init.detail ?? init.title ?? "";
    super(
      ServiceClientErrorCode.Remote,
      `${init.service} answered ${init.status}${init.remoteCode === undefined ? "" : ` ${init.remoteCode}`}${what === "" ? "" : `: ${what}`}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.service = init.service;
    this.instance = init.instance;
    this.status = init.status;
    this.remoteCode = init.remoteCode;
    this.type = init.type;
    this.title = init.title;
    this.detail = init.detail;
    this.retryAfterMs = init.retryAfterMs;
    this.problem = init.problem;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.Remote);
  }
}

/** No instance of the service, or none in the required version range, is known to discovery. */
export class ServiceNoInstanceError extends FlotillaError {
  /** The service asked for. */
  readonly service: string;
  /** The required semver range, if any. */
  readonly versions: string | undefined;

  constructor(service: string, versions: string | undefined, options?: { cause?: unknown }) {
    super(
      ServiceClientErrorCode.NoInstance,
      `no instance of ${service}${versions === undefined ? "" : ` in versions ${versions}`} is available`,
      options,
    );
    this.service = service;
    this.versions = versions;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.NoInstance);
  }
}

/** The request to an instance failed without a response; the transport's error (`ECONNREFUSED` …) is the `cause`. */
export class ServiceConnectionError extends FlotillaError {
  /** The callee service. */
  readonly service: string;
  /** The instance called. */
  readonly instance: string;

  constructor(service: string, instance: string, cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code;
    super(
      ServiceClientErrorCode.Connection,
      `${service} (${instance}): request failed${typeof code === "string" ? ` (${code})` : ""}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.service = service;
    this.instance = instance;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.Connection);
  }
}

/**
 * The call failed and a `queue` fallback handed it to the {@link FallbackQueue} for later: a
 * handler usually answers `202 Accepted` with {@link ServiceCallQueuedError.jobId}. Thrown rather
 * than returned so that a typed call never resolves to something its type does not describe.
 */
export class ServiceCallQueuedError extends FlotillaError {
  /** The callee service. */
  readonly service: string;
  /** The route, or `METHOD /path` for an untyped call. */
  readonly route: string;
  /** The id the queue gave the job. */
  readonly jobId: string;

  constructor(service: string, route: string, jobId: string, cause: unknown) {
    super(ServiceClientErrorCode.CallQueued, `${service} ${route}: queued for later as job ${jobId}`, {
      cause,
    });
    this.service = service;
    this.route = route;
    this.jobId = jobId;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.CallQueued);
  }
}

/** The call cannot be made as given: a path parameter is missing, or (with `validateRequests`) the input fails the route's schemas. */
export class ServiceInvalidCallError extends FlotillaError {
  /** The callee service. */
  readonly service: string;
  /** The route. */
  readonly route: string;
  /** What is wrong, per path (`params.sku`, `body.quantity`). */
  readonly issues: readonly SchemaIssue[];

  constructor(service: string, route: string, issues: readonly SchemaIssue[]) {
    super(
      ServiceClientErrorCode.InvalidCall,
      `${service} ${route}: invalid call: ${issues.map((i) => `${i.path || "(input)"}: ${i.message}`).join("; ")}`,
    );
    this.service = service;
    this.route = route;
    this.issues = issues;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.InvalidCall);
  }
}

/** A call made after `close()`. */
export class ServiceClientsClosedError extends FlotillaError {
  constructor() {
    super(ServiceClientErrorCode.ClientsClosed, "the service clients are closed");
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ServiceClientErrorCode.ClientsClosed);
  }
}

/** Type guard for {@link RemoteServiceError} across package copies. */
export const isRemoteServiceError = (e: unknown): e is RemoteServiceError =>
  hasCode(e, ServiceClientErrorCode.Remote);
/** Type guard for {@link ServiceBadResponseError} across package copies. */
export const isServiceBadResponseError = (e: unknown): e is ServiceBadResponseError =>
  hasCode(e, ServiceClientErrorCode.BadResponse);
/** Type guard for {@link ServiceCallQueuedError} across package copies. */
export const isServiceCallQueuedError = (e: unknown): e is ServiceCallQueuedError =>
  hasCode(e, ServiceClientErrorCode.CallQueued);
