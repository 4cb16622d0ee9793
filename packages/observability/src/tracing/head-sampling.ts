import type { Sampler, TracerProvider } from "@opentelemetry/sdk-trace";
import type { PooledIdGenerator } from "./pooled-id-generator.js";
import type { PropagationHeaders } from "./propagation-headers.js";

/**
 * What the running telemetry lends `traceHttpServer` so that it can ask the sampler about a
 * request before any span exists, and skip the SDK's span machinery for the requests the sampler
 * drops: the provider it belongs to, its sampler, its id generator, and the headers its
 * propagator reads (`undefined` when every request must go through the propagator).
 * @internal
 */
export interface HeadSampling {
  readonly provider: TracerProvider;
  readonly sampler: Sampler;
  readonly ids: PooledIdGenerator;
  readonly propagationHeaders: PropagationHeaders | undefined;
}

let current: HeadSampling | undefined;

/** The head sampling of the running telemetry, if one runs. @internal */
export function headSampling(): HeadSampling | undefined {
  return current;
}

/** Set by the telemetry when it starts, and cleared when it stops. @internal */
export function setHeadSampling(sampling: HeadSampling | undefined): void {
  current = sampling;
}
