import { FlotillaError } from "@flotilla/resilience";
import { ServiceErrorCode } from "../server/service-error.js";

/** The step of `startService` that failed. */
export type StartPhase =
  | "config"
  | "telemetry"
  | "database"
  | "clients"
  | "idempotency"
  | "listen"
  | "register";

/**
 * Thrown by `startService` when a step of the start fails (`FLT_SERVICE_START_FAILED`): which
 * step, and the error as `cause`. Everything started before it has been closed again.
 */
export class ServiceStartError extends FlotillaError {
  /** The step that failed. */
  readonly phase: StartPhase;
  /** The service that failed to start. */
  readonly service: string;

  constructor(service: string, phase: StartPhase, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(ServiceErrorCode.StartFailed, `service "${service}" failed to start (${phase}): ${reason}`, {
      cause,
    });
    this.phase = phase;
    this.service = service;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof FlotillaError && value.code === ServiceErrorCode.StartFailed;
  }
}
