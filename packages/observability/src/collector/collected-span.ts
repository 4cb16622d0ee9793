import type { Attributes } from "./attribute-value.js";

/** OTLP `SpanKind` values. */
export const OtlpSpanKind = {
  Unspecified: 0,
  Internal: 1,
  Server: 2,
  Client: 3,
  Producer: 4,
  Consumer: 5,
} as const;

/** OTLP `Status.StatusCode` values. */
export const OtlpStatusCode = {
  Unset: 0,
  Ok: 1,
  Error: 2,
} as const;

/** The service name the collector uses for spans whose resource has no `service.name`. */
export const unknownService = "unknown_service";

/** An event recorded on a span. */
export interface CollectedSpanEvent {
  readonly name: string;
  readonly timeUnixNano: bigint;
  readonly attributes: Attributes;
}

/** A link from a span to another span. */
export interface CollectedSpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly attributes: Attributes;
}

/**
 * A span as the collector stores it: the OTLP span with its resource's service name, resource
 * attributes and instrumentation scope folded in, plus millisecond figures for queries and display.
 */
export interface CollectedSpan {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** 16 lower-case hex digits; absent on a root span. */
  readonly parentSpanId?: string;
  readonly traceState: string;
  /** The operation. */
  readonly name: string;
  /** An {@link OtlpSpanKind} value. */
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  /** Start as Unix epoch milliseconds (fractional). */
  readonly startMs: number;
  /** End minus start, in milliseconds (fractional, exact to the nanosecond within 2^53 ns). */
  readonly durationMs: number;
  readonly attributes: Attributes;
  /** `code` is an {@link OtlpStatusCode} value. */
  readonly status: { readonly code: number; readonly message: string };
  readonly events: readonly CollectedSpanEvent[];
  readonly links: readonly CollectedSpanLink[];
  /** W3C trace flags in the low 8 bits. */
  readonly flags: number;
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;
  /** The resource's `service.name`, or {@link unknownService}. */
  readonly service: string;
  readonly resource: Attributes;
  readonly scope: { readonly name: string; readonly version: string };
}

/** True when the span's status is ERROR. */
export function isErrorSpan(span: { readonly status: { readonly code: number } }): boolean {
  return span.status.code === OtlpStatusCode.Error;
}
