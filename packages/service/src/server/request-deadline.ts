import { validationProblem } from "./validate-request.js";

const digits = /^\d{1,15}$/;

/**
 * The deadline (epoch ms) of a request from its `x-flotilla-timeout-ms` header — the milliseconds
 * the caller has left, relative so that clocks need not agree — capped at `maxTimeoutMs`; without
 * the header, `defaultTimeoutMs` from now, or `undefined` when that is unset. A value that is not a
 * whole number of milliseconds is a 400 `FLT_SERVICE_VALIDATION` problem at
 * `headers.x-flotilla-timeout-ms`.
 */
export function requestDeadline(
  header: string | string[] | undefined,
  now: number,
  maxTimeoutMs: number,
  defaultTimeoutMs: number | undefined,
): number | undefined {
  if (header === undefined) return defaultTimeoutMs === undefined ? undefined : now + defaultTimeoutMs;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !digits.test(value.trim())) {
    throw validationProblem([
      { path: "headers.x-flotilla-timeout-ms", message: "expected a whole number of milliseconds" },
    ]);
  }
  return now + Math.min(Number(value), maxTimeoutMs);
}
