import { tcpCheck } from "@flotilla/observability";
import type { Clock } from "@flotilla/resilience";
import type { ProbeResult } from "./probe.js";
import { probeDeadline } from "./probe-deadline.js";

/**
 * One TCP check run: connects to `address`:`port` and closes the connection at once (the
 * `tcpCheck` of `@flotilla/observability`). Accepted is `passing`; refused or unreachable is
 * `critical` with the error code (`ECONNREFUSED`); no connection within `timeoutMs` is `critical`
 * with `timeout after 2000 ms`. Never rejects.
 */
export async function tcpProbe(
  address: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
  clock: Clock,
): Promise<ProbeResult> {
  const deadline = probeDeadline(signal, timeoutMs, clock);
  try {
    await tcpCheck(address, port)({ signal: deadline.signal });
    return { status: "passing" };
  } catch (error) {
    return deadline.failure(error);
  } finally {
    deadline.dispose();
  }
}
