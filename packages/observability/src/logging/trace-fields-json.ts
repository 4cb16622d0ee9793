import { isSpanContextValid, trace } from "@opentelemetry/api";

/**
 * The trace fields of the active span (see `traceFields`) as JSON members to append to a log line's object,
 * `,"trace_id":"…","span_id":"…","trace_flags":"01"`, or `""` when no valid span is active. The
 * ids are lower-case hex by construction (W3C Trace Context), so they need no escaping.
 */
export function traceFieldsJson(): string {
  const span = trace.getActiveSpan();
  if (span === undefined) return "";
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return "";
  const flags = context.traceFlags;
  const hexFlags = flags === 1 ? "01" : flags === 0 ? "00" : `${flags < 16 ? "0" : ""}${flags.toString(16)}`;
  return `,"trace_id":"${context.traceId}","span_id":"${context.spanId}","trace_flags":"${hexFlags}"`;
}
