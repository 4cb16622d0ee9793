import type { Attributes } from "./attribute-value.js";

/**
 * A decoded OTLP `ExportTraceServiceRequest` (opentelemetry-proto `collector/trace/v1`), the same
 * shape whichever encoding it arrived in. Identifiers are lower-case hex, empty when absent; times
 * are Unix nanoseconds. Fields the collector has no use for (schema URLs, entity refs) are left out.
 */
export interface OtlpTraceRequest {
  readonly resourceSpans: readonly OtlpResourceSpans[];
}

/** `ResourceSpans`: the spans of one resource (one process of one service). */
export interface OtlpResourceSpans {
  readonly resource: OtlpResource;
  readonly scopeSpans: readonly OtlpScopeSpans[];
}

/** `Resource`: the attributes that describe where spans come from (`service.name` …). */
export interface OtlpResource {
  readonly attributes: Attributes;
  readonly droppedAttributesCount: number;
}

/** `ScopeSpans`: the spans of one instrumentation scope. */
export interface OtlpScopeSpans {
  readonly scope: OtlpInstrumentationScope;
  readonly spans: readonly OtlpSpan[];
}

/** `InstrumentationScope`: the library that made the spans. */
export interface OtlpInstrumentationScope {
  readonly name: string;
  readonly version: string;
}

/** `Span`, field for field. */
export interface OtlpSpan {
  /** 32 hex digits, or empty when absent. */
  readonly traceId: string;
  /** 16 hex digits, or empty when absent. */
  readonly spanId: string;
  readonly traceState: string;
  /** 16 hex digits, or empty for a root span. */
  readonly parentSpanId: string;
  /** W3C trace flags in the low 8 bits, OTLP's remote-parent bits above them. */
  readonly flags: number;
  readonly name: string;
  /** `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Attributes;
  readonly droppedAttributesCount: number;
  readonly events: readonly OtlpSpanEvent[];
  readonly droppedEventsCount: number;
  readonly links: readonly OtlpSpanLink[];
  readonly droppedLinksCount: number;
  readonly status: OtlpStatus;
}

/** `Span.Event`: a timestamped annotation. */
export interface OtlpSpanEvent {
  readonly timeUnixNano: bigint;
  readonly name: string;
  readonly attributes: Attributes;
}

/** `Span.Link`: a pointer to another span. */
export interface OtlpSpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly attributes: Attributes;
}

/** `Status`: 0 unset, 1 ok, 2 error, with a developer-facing message. */
export interface OtlpStatus {
  readonly code: number;
  readonly message: string;
}
