import { setTimeout as delay } from "node:timers/promises";

/** How a simulated external system (a payment provider, a push gateway) misbehaves. */
export interface SimulatedFaults {
  /** Added to every call, in milliseconds. Default 0. */
  readonly latencyMs?: number;
  /** Share of calls that fail, from 0 to 1. Default 0. */
  readonly failureRate?: number;
  /** Source of randomness in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * Waits the configured latency (abandoned when `signal` aborts) and then tells whether this call
 * is one of the failing ones.
 */
export async function simulateCall(faults: SimulatedFaults, signal?: AbortSignal): Promise<boolean> {
  const latency = faults.latencyMs ?? 0;
  if (latency > 0) await delay(latency, undefined, signal === undefined ? {} : { signal });
  return (faults.random ?? Math.random)() < (faults.failureRate ?? 0);
}
