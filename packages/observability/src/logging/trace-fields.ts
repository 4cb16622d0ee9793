import { isSpanContextValid, trace } from "@opentelemetry/api";

/**
 * Fields naming the active span, as the OpenTelemetry specification names them for log formats
 * that are not OTLP: lower-case hex `trace_id`, `span_id` and `trace_flags`.
 * https://opentelemetry.io/docs/specs/otel/compatibility/logging_trace_context/
 */
export interface TraceFields {
  readonly trace_id: string;
  readonly span_id: string;
  readonly trace_flags: string;
}

/** Returned when no valid span is active; shared, never written to. */
export const noTraceFields: Readonly<Record<string, never>> = Object.freeze({});

/**
 * The {@link TraceFields} of the span active in the current OpenTelemetry context, or
 * {@link noTraceFields} when there is none or its context is invalid (all-zero ids).
 */
export function traceFields(): TraceFields | Readonly<Record<string, never>> {
  const span = trace.getActiveSpan();
  if (span === undefined) return noTraceFields;
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return noTraceFields;
  return {
    trace_id: context.traceId,
    span_id: context.spanId,
    trace_flags:
      context.traceFlags < 16 ? `0${context.traceFlags.toString(16)}` : context.traceFlags.toString(16),
  };
}
