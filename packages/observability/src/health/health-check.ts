import type { Duration } from "@flotilla/resilience";

/**
 * The outcome of one check, after the IETF health-check draft
 * (https://datatracker.ietf.org/doc/html/draft-inadarei-api-health-check-06#section-3.1):
 * `pass` healthy, `warn` healthy with a concern (still HTTP 200), `fail` unhealthy (HTTP 503).
 */
export type HealthStatus = "pass" | "warn" | "fail";

/** What a check may resolve with; resolving with nothing means `pass`. */
export interface HealthCheckResult {
  /** Default `pass`. */
  readonly status?: HealthStatus;
  /** Anything worth showing in the report (a replication lag, a pool's idle connections). */
  readonly details?: unknown;
}

/** What a check receives: a signal that aborts when its timeout elapses. */
export interface HealthCheckContext {
  /** Aborted, with a `HealthCheckTimeoutError` as its reason, when the check's timeout elapses. */
  readonly signal: AbortSignal;
}

/**
 * One health check. Resolving (with nothing or a {@link HealthCheckResult}) reports its status;
 * throwing or rejecting reports `fail` with the error's message. A check should stop its work when
 * `signal` aborts.
 */
export type HealthCheck = (
  context: HealthCheckContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: a check is usually an async function that returns nothing, and `undefined` would not accept one
) => Promise<void | HealthCheckResult> | void | HealthCheckResult;

/** A check with a timeout of its own instead of the shared one. */
export interface HealthCheckSpec {
  readonly check: HealthCheck;
  readonly timeout?: Duration;
}

/** One check's part of a {@link HealthReport}. */
export interface CheckReport {
  readonly status: HealthStatus;
  /** How long the run that produced this report took, in milliseconds (0.1 ms resolution). */
  readonly latencyMs: number;
  /** Why the check failed: the error's message. */
  readonly error?: string;
  /** The `details` the check returned. */
  readonly details?: unknown;
}

/**
 * The lifecycle phase of an instance: `starting` until `markReady()`, `ready`, then `draining`
 * once `drain()` is called on the way down.
 */
export type HealthPhase = "starting" | "ready" | "draining";

/** The answer to a liveness or readiness probe. */
export interface HealthReport {
  /** The worst check status, or the phase that made readiness refuse without running checks. */
  readonly status: HealthStatus | "starting" | "draining";
  /** Each check's report, by name; empty when no check ran. */
  readonly checks: Readonly<Record<string, CheckReport>>;
}
