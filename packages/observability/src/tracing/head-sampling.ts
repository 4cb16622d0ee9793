import { ProxyTracerProvider, trace } from "@opentelemetry/api";
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
  /**
   * Set when the registered propagator is the one `initTelemetry` builds (`tracePropagator`: B3,
   * W3C trace context and baggage): `headers` are those it reads from a carrier holding a
   * `traceparent`, so a carrier with that one alone may be read without it, and, when it does not
   * inject B3, a span context without trace state or baggage written without it (`traceparent.ts`).
   */
  readonly standard: { readonly headers: PropagationHeaders; readonly injectsB3: boolean } | undefined;
  /**
   * Set when `sampler` is the parent-based ratio sampler `initTelemetry` builds: a root span is
   * sampled exactly when its trace id folded to 32 bits (`PooledIdGenerator.lastTraceIdFold`) is
   * below this bound (0: never; 2^32: always), which is the SDK sampler's own rule for a root. The
   * sampler returns nothing else for a root (no attributes, no trace state), so the decision can be
   * taken without asking it; for a child it follows the parent's sampled flag.
   */
  readonly rootUpperBound: number | undefined;
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

/** The running telemetry's head sampling, while its provider is the one registered with the API. */
export function registeredHeadSampling(): HeadSampling | undefined {
  const sampling = headSampling();
  if (sampling === undefined) return undefined;
  const provider = trace.getTracerProvider();
  const registered = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return registered === sampling.provider ? sampling : undefined;
}
