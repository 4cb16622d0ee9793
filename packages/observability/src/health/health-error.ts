import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable error codes of the health module. */
export const HealthErrorCode = {
  /** A check did not settle within its timeout. */
  CheckTimeout: "FLT_HEALTH_CHECK_TIMEOUT",
  /** A check reached its dependency and got a bad answer (an HTTP status outside 2xx). */
  CheckFailed: "FLT_HEALTH_CHECK_FAILED",
} as const;

/** A health check that did not settle within its timeout; its report says `fail`. */
export class HealthCheckTimeoutError extends FlotillaError {
  /** The check's name. */
  readonly check: string;
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(check: string, timeoutMs: number) {
    super(HealthErrorCode.CheckTimeout, `check "${check}" timed out after ${timeoutMs} ms`);
    this.check = check;
    this.timeoutMs = timeoutMs;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isFlotillaError(value) && value.code === HealthErrorCode.CheckTimeout;
  }
}

/** A dependency answered, but not with success (an HTTP status outside 2xx for `httpCheck`). */
export class HealthCheckFailedError extends FlotillaError {
  constructor(message: string) {
    super(HealthErrorCode.CheckFailed, message);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isFlotillaError(value) && value.code === HealthErrorCode.CheckFailed;
  }
}
