import { type CollectedSpan, isErrorSpan } from "./collected-span.js";

/** One line of a trace listing. */
export interface TraceSummary {
  readonly traceId: string;
  /** Service of the root span (or, while the root has not arrived, of the earliest orphan). */
  readonly rootService: string;
  /** Name of that span. */
  readonly rootOperation: string;
  /** The earliest start of any span, in Unix epoch milliseconds. */
  readonly startMs: number;
  readonly startTimeUnixNano: bigint;
  /** From the earliest start to the latest end, in milliseconds. */
  readonly durationMs: number;
  readonly spanCount: number;
  /** Spans whose status is ERROR. */
  readonly errorCount: number;
  /** True when `errorCount` is above zero. */
  readonly error: boolean;
  /** Every service with a span in the trace, sorted. */
  readonly services: readonly string[];
  /** Spans whose parent is not (yet) in the trace; 0 for a complete trace. */
  readonly orphanCount: number;
}

/** Summarises one trace from its spans, keyed by span id. */
export function summarizeTrace(traceId: string, spans: ReadonlyMap<string, CollectedSpan>): TraceSummary {
  let root: CollectedSpan | undefined;
  let firstOrphan: CollectedSpan | undefined;
  let first: CollectedSpan | undefined;
  let endNs = 0n;
  let errorCount = 0;
  let orphanCount = 0;
  const services = new Set<string>();
  for (const span of spans.values()) {
    if (first === undefined || span.startTimeUnixNano < first.startTimeUnixNano) first = span;
    if (span.endTimeUnixNano > endNs) endNs = span.endTimeUnixNano;
    if (isErrorSpan(span)) errorCount++;
    services.add(span.service);
    if (span.parentSpanId === undefined) {
      if (root === undefined || span.startTimeUnixNano < root.startTimeUnixNano) root = span;
    } else if (!spans.has(span.parentSpanId)) {
      orphanCount++;
      if (firstOrphan === undefined || span.startTimeUnixNano < firstOrphan.startTimeUnixNano)
        firstOrphan = span;
    }
  }
  const head = root ?? firstOrphan ?? first;
  const startNs = first?.startTimeUnixNano ?? 0n;
  return {
    traceId,
    rootService: head?.service ?? "",
    rootOperation: head?.name ?? "",
    startMs: Number(startNs) / 1e6,
    startTimeUnixNano: startNs,
    durationMs: Number((endNs > startNs ? endNs : startNs) - startNs) / 1e6,
    spanCount: spans.size,
    errorCount,
    error: errorCount > 0,
    services: [...services].sort(),
    orphanCount,
  };
}
