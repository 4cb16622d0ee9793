import { parseRetryAfter } from "@flotilla/resilience";
import { RemoteServiceError } from "./service-client-error.js";

/** How many hops of a remote cause chain are kept; deeper ones are dropped. */
const maxCauseDepth = 8;
/** How much of a body that is not a problem document goes into the error's `detail`. */
const maxDetailChars = 200;

/** What the client knows about an error response. */
export interface ErrorResponse {
  /** The callee service. */
  readonly service: string;
  /** The instance that answered. */
  readonly instance: string;
  readonly status: number;
  /** The `content-type` header, if any. */
  readonly contentType: string | undefined;
  /** The `retry-after` header, if any. */
  readonly retryAfter: string | undefined;
  /** The body as text. */
  readonly body: string;
}

/**
 * Turns an error response into a {@link RemoteServiceError}. An RFC 9457 problem document
 * (`application/problem+json`, or any JSON object with a `title` or `type`) gives `type`, `title`,
 * `detail`, `code` and the remote `cause` chain (each a problem naming its own `service`),
 * which become nested `RemoteServiceError`s; any other body gives its first 200 characters as
 * `detail`. A `Retry-After` becomes `retryAfterMs`, which the retry policy honours.
 */
export function remoteProblem(response: ErrorResponse, wallClock: () => number): RemoteServiceError {
  const retryAfterMs =
    response.retryAfter === undefined ? undefined : parseRetryAfter(response.retryAfter, wallClock());
  const json = response.contentType !== undefined && /json/i.test(response.contentType);
  let parsed: unknown;
  if (json && response.body !== "") {
    try {
      parsed = JSON.parse(response.body);
    } catch {
      parsed = undefined;
    }
  }
  if (!isProblem(parsed)) {
    const detail = response.body.trim().slice(0, maxDetailChars);
    return new RemoteServiceError({
      service: response.service,
      instance: response.instance,
      status: response.status,
      ...(detail === "" ? {} : { detail }),
      retryAfterMs,
    });
  }
  return fromProblem(parsed, response.service, response.instance, response.status, retryAfterMs, 0);
}

function isProblem(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return typeof v.title === "string" || typeof v.type === "string" || typeof v.code === "string";
}

function fromProblem(
  problem: Record<string, unknown>,
  service: string,
  instance: string | undefined,
  status: number,
  retryAfterMs: number | undefined,
  depth: number,
): RemoteServiceError {
  const cause =
    depth < maxCauseDepth && isProblem(problem.cause)
      ? fromProblem(
          problem.cause,
          str(problem.cause.service) ?? service,
          undefined,
          num(problem.cause.status) ?? status,
          undefined,
          depth + 1,
        )
      : undefined;
  return new RemoteServiceError({
    service: depth === 0 ? service : (str(problem.service) ?? service),
    instance,
    status,
    remoteCode: str(problem.code),
    type: str(problem.type),
    title: str(problem.title),
    detail: str(problem.detail),
    retryAfterMs,
    problem,
    ...(cause === undefined ? {} : { cause }),
  });
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}
