import type { Clock } from "@flotilla/resilience";
import { type Dispatcher, request } from "undici";
import type { ProbeResult } from "./probe.js";
import { probeDeadline } from "./probe-deadline.js";

/** The most of a check's response body that is read (so the connection can be reused); more closes it. */
export const maxProbeBodyBytes = 4096;

const headers = { "user-agent": "flotilla-registry", accept: "*/*" };

/**
 * One HTTP check run, with Consul's semantics
 * (https://developer.hashicorp.com/consul/docs/services/usage/checks#http-checks): `GET url`
 * through `dispatcher`; a 2xx answer is `passing`, 429 `warning`, any other status `critical`
 * with output `HTTP 503`. Redirects are not followed (a 3xx is critical). No answer within
 * `timeoutMs` is `critical` with output `timeout after 2000 ms`, a connection error `critical`
 * with its code (`ECONNREFUSED`). Up to {@link maxProbeBodyBytes} of the body are read and
 * dropped. Never rejects.
 */
export async function httpProbe(
  url: string,
  timeoutMs: number,
  signal: AbortSignal,
  dispatcher: Dispatcher,
  clock: Clock,
): Promise<ProbeResult> {
  const deadline = probeDeadline(signal, timeoutMs, clock);
  try {
    const { statusCode, body } = await request(url, {
      method: "GET",
      dispatcher,
      headers,
      signal: deadline.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    // The status decides the result; a body that fails to drain only costs the connection.
    await body.dump({ limit: maxProbeBodyBytes, signal: deadline.signal }).catch(() => undefined);
    return httpStatusResult(statusCode);
  } catch (error) {
    return deadline.failure(error);
  } finally {
    deadline.dispose();
  }
}

/** Consul's reading of an HTTP check's status code: 2xx passing, 429 warning, else critical. */
export function httpStatusResult(statusCode: number): ProbeResult {
  if (statusCode >= 200 && statusCode < 300) return { status: "passing" };
  return { status: statusCode === 429 ? "warning" : "critical", output: `HTTP ${statusCode}` };
}
