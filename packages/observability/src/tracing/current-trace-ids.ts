import { context, isSpanContextValid, TraceFlags, trace } from "@opentelemetry/api";

/** The ids of the active span, as a logger writes them next to each line. */
export interface TraceIds {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** Whether the trace is sampled, that is exported; a log line of an unsampled trace has no spans to join. */
  readonly sampled: boolean;
}

/**
 * The trace and span id of the active span, or `undefined` outside any span (and while no
 * telemetry is active). Spans that sampling dropped still have ids, which flow to the next hop,
 * so their logs still correlate across services.
 */
export function currentTraceIds(): TraceIds | undefined {
  const spanContext = trace.getSpanContext(context.active());
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return undefined;
  return {
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    sampled: (spanContext.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
  };
}
