import { FlotillaError } from "@flotilla/resilience";
import {
  isRegistryError,
  RegistryErrorCode,
  type RegistryInvalidRequestError,
  type RequestIssue,
} from "../registry-error.js";

const kHttpProblem = Symbol("flotilla.registry.httpProblem");

/**
 * Problem codes the registry server answers with besides {@link RegistryErrorCode}'s: the ones
 * only HTTP has (unknown route, wrong method, wrong content type, a handler bug).
 */
export const ServerProblemCode = {
  /** No such route, instance or KV key. */
  NotFound: "FLT_REGISTRY_NOT_FOUND",
  /** The route exists but not with this method; the answer lists the allowed ones in `Allow`. */
  MethodNotAllowed: "FLT_REGISTRY_METHOD_NOT_ALLOWED",
  /** A JSON body sent with another `Content-Type`. */
  UnsupportedMediaType: "FLT_REGISTRY_UNSUPPORTED_MEDIA_TYPE",
  /** A bug in the server; logged with its stack. */
  Internal: "FLT_REGISTRY_INTERNAL",
  /** The server is closing and takes no new streams or waits. */
  ShuttingDown: "FLT_REGISTRY_SHUTTING_DOWN",
} as const;

/** Every code a problem answer of the registry server can carry. */
export type ProblemCode = RegistryErrorCode | (typeof ServerProblemCode)[keyof typeof ServerProblemCode];

/** What {@link HttpProblem} takes. */
export interface HttpProblemInit {
  readonly status: number;
  readonly code: ProblemCode;
  /** Short, stable summary of the problem type. */
  readonly title: string;
  /** This occurrence, for people. */
  readonly detail: string;
  readonly issues?: readonly RequestIssue[];
  /** Extra response headers (`Allow`, `Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * An answer that is an RFC 9457 problem (https://www.rfc-editor.org/rfc/rfc9457), thrown by a
 * route handler and written by the server as `application/problem+json`.
 */
export class HttpProblem extends FlotillaError {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly issues: readonly RequestIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(init: HttpProblemInit) {
    super(init.code, `${init.status} ${init.title}: ${init.detail}`, { cause: init.cause });
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail;
    this.issues = init.issues;
    this.headers = init.headers ?? {};
    Object.defineProperty(this, kHttpProblem, { value: true });
  }

  // FlotillaError's check answers true for every coded error; a problem is only what was built as one.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isHttpProblem(value);
  }

  /** The problem document: `{ type, title, status, detail, code, issues? }`. */
  toJSON(): Record<string, unknown> {
    return {
      type: problemType(this.code),
      title: this.title,
      status: this.status,
      detail: this.detail,
      code: this.code,
      ...(this.issues === undefined ? {} : { issues: this.issues }),
    };
  }

  /** 400 listing each bad field by path. */
  static invalid(issues: readonly RequestIssue[]): HttpProblem {
    return new HttpProblem({
      status: 400,
      code: RegistryErrorCode.InvalidRequest,
      title: "Invalid request",
      detail: issues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; "),
      issues,
    });
  }

  /** 404 for a missing instance, key or route. */
  static notFound(detail: string): HttpProblem {
    return new HttpProblem({ status: 404, code: ServerProblemCode.NotFound, title: "Not found", detail });
  }

  /**
   * The problem to answer for anything a handler threw: itself for an {@link HttpProblem}, 400 for
   * an invalid request, 404 for an unknown lease, 413 for a write the store refused as too large
   * (etcd's "request is too large"), 503 with `Retry-After` for a store that failed or closed, and
   * 500 (`FLT_REGISTRY_INTERNAL`, to be logged) for anything else.
   */
  static from(error: unknown): HttpProblem {
    if (isHttpProblem(error)) return error;
    if (isRegistryError(error, RegistryErrorCode.InvalidRequest)) {
      return HttpProblem.invalid((error as RegistryInvalidRequestError).issues ?? []);
    }
    if (isRegistryError(error, RegistryErrorCode.UnknownLease))
      return HttpProblem.unknownLease(error.message);
    if (isRegistryError(error, RegistryErrorCode.LimitExceeded)) {
      return new HttpProblem({
        status: 413,
        code: RegistryErrorCode.LimitExceeded,
        title: "Content too large",
        detail: error.message,
        cause: error,
      });
    }
    if (
      isRegistryError(error, RegistryErrorCode.StoreUnavailable) ||
      isRegistryError(error, RegistryErrorCode.StoreClosed)
    ) {
      return HttpProblem.unavailable(error.message, error.code as ProblemCode, error);
    }
    return new HttpProblem({
      status: 500,
      code: ServerProblemCode.Internal,
      title: "Internal server error",
      detail: "the registry failed to handle the request; the error is in its log",
      cause: error,
    });
  }

  /** 404 `FLT_REGISTRY_UNKNOWN_LEASE`: the client must register again. */
  static unknownLease(detail: string): HttpProblem {
    return new HttpProblem({
      status: 404,
      code: RegistryErrorCode.UnknownLease,
      title: "Unknown lease",
      detail,
    });
  }

  /** 503: the store failed (`FLT_REGISTRY_STORE_UNAVAILABLE`) or the server is closing. */
  static unavailable(
    detail: string,
    code: ProblemCode = RegistryErrorCode.StoreUnavailable,
    cause?: unknown,
  ): HttpProblem {
    return new HttpProblem({
      status: 503,
      code,
      title: "Service unavailable",
      detail,
      headers: { "retry-after": "1" },
      cause,
    });
  }

  /** 429 (or 413 for bodies) when a limit is reached; `retryAfterMs` becomes `Retry-After`. */
  static limit(status: 413 | 429, detail: string, retryAfterMs?: number): HttpProblem {
    return new HttpProblem({
      status,
      code: RegistryErrorCode.LimitExceeded,
      title: status === 413 ? "Content too large" : "Limit exceeded",
      detail,
      ...(retryAfterMs === undefined
        ? {}
        : { headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } }),
    });
  }
}

/** `FLT_REGISTRY_UNKNOWN_LEASE` → `https://flotilla.dev/problems/flt-registry-unknown-lease`. */
export function problemType(code: string): string {
  return `https://flotilla.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`;
}

/** True for an {@link HttpProblem}. */
export function isHttpProblem(value: unknown): value is HttpProblem {
  return (
    typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kHttpProblem] === true
  );
}
