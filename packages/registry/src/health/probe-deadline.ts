import type { Clock } from "@flotilla/resilience";
import type { ProbeResult } from "./probe.js";

/** One probe run's abort signal: the caller's, or the run's own timeout, whichever comes first. */
export interface ProbeDeadline {
  /** Aborts when the caller's signal does or `timeoutMs` elapses. */
  readonly signal: AbortSignal;
  /** The `critical` result for an error the probe caught, named after its cause. */
  failure(error: unknown): ProbeResult;
  /** Clears the timer and the listener on the caller's signal. */
  dispose(): void;
}

/**
 * Starts a deadline of `timeoutMs` for one probe run, linked to `parent`. A run that ends because
 * the deadline passed reports `timeout after <ms> ms`; one the caller aborted reports `aborted`;
 * any other error its system code (`ECONNREFUSED`) or, without one, its message.
 */
export function probeDeadline(parent: AbortSignal, timeoutMs: number, clock: Clock): ProbeDeadline {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(parent.reason);
  const timer = clock.setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timeout after ${timeoutMs} ms`));
  }, timeoutMs);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    failure(error) {
      if (timedOut || isTimeoutError(error))
        return { status: "critical", output: `timeout after ${timeoutMs} ms` };
      if (parent.aborted) return { status: "critical", output: "aborted" };
      return { status: "critical", output: describeProbeError(error) };
    },
    dispose() {
      clock.clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}

const timeoutCodes = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);

function isTimeoutError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && timeoutCodes.has(code);
}

/**
 * A short description of why a probe failed, for a check's `output`: the system error code
 * (`ECONNREFUSED`, `ENOTFOUND`), also when wrapped as an error's `cause`, else the message.
 */
export function describeProbeError(error: unknown): string {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === "object" && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z0-9_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
