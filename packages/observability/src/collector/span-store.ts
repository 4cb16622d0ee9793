import { ConfigReader } from "@flotilla/resilience";
import { type CollectedSpan, isErrorSpan } from "./collected-span.js";
import { buildDependencyGraph, type DependencyGraph } from "./dependency-graph.js";
import {
  parseSpanStoreOptions,
  type ResolvedSpanStoreOptions,
  type SpanStoreOptions,
  spanStoreOptionKeys,
} from "./span-store-options.js";
import { parseTimeWindow, parseTraceQuery, type TimeWindow, type TraceQuery } from "./trace-query.js";
import { TraceSpans } from "./trace-spans.js";
import { summarizeTrace, type TraceSummary } from "./trace-summary.js";
import { buildTraceTree, type TraceTree } from "./trace-tree.js";

/** What {@link SpanStore.add} did with a batch. */
export interface AddSpansResult {
  /** Spans stored. */
  readonly accepted: number;
  /** Spans already stored (same trace and span id, as when an exporter retries); kept once, not an error. */
  readonly duplicates: number;
  /** Spans refused because their trace already holds `maxSpansPerTrace` spans. */
  readonly rejected: number;
  /** The traces that refused spans, for the partial-success message. */
  readonly rejectedTraces: readonly string[];
}

/** Counters of a {@link SpanStore}. */
export interface SpanStoreStats {
  readonly traces: number;
  readonly spans: number;
  readonly services: number;
  readonly maxSpans: number;
  /** Whole traces evicted for the span bound or for age, since the store was made. */
  readonly evictedTraces: number;
  readonly evictedSpans: number;
  readonly duplicateSpans: number;
  readonly rejectedSpans: number;
}

interface TraceRecord {
  readonly traceId: string;
  readonly spans: TraceSpans;
  /** The services with spans in the trace, each once: a handful at most, cheaper as a list than a Map. */
  services: string[];
  startNs: bigint;
  endNs: bigint;
  errorCount: number;
  /** Clock reading when the trace last received a span. */
  receivedAt: number;
  /** The {@link SpanStore.add} call that last moved the trace to the newest end. */
  batch: number;
  /** The trace updated just before this one, next in line for eviction. */
  older: TraceRecord | undefined;
  newer: TraceRecord | undefined;
}

/** Creates a {@link SpanStore}; throws a `ConfigError` (`FLT_CONFIG_INVALID`) for bad options. */
export function spanStore(options: SpanStoreOptions = {}): SpanStore {
  return new SpanStore(options);
}

/**
 * The collector's in-memory trace store, with bounded retention. Traces are kept in the order they
 * last received a span; when the span count passes `maxSpans`, or a trace has received nothing for
 * `maxAge`, the least recently updated traces are evicted whole — never single spans, so what is
 * kept stays whole. Age eviction runs on every write and read, so the store needs no timer. Traces
 * are indexed by trace id; a query by service scans them (a query is rare, a span is not).
 */
export class SpanStore {
  readonly #options: ResolvedSpanStoreOptions;
  readonly #traces = new Map<string, TraceRecord>();
  /**
   * The records in order of last update, linked through `older`/`newer`: the oldest is the next to
   * evict. A list rather than the Map's insertion order, because finding a Map's first live entry
   * walks every deleted slot before it, which made each eviction cost time in proportion to the
   * evictions since the table was last rebuilt.
   */
  #oldest: TraceRecord | undefined;
  #newest: TraceRecord | undefined;
  /** Traces per service: a count, not an index, so that a trace costs no set entry per service. */
  readonly #tracesPerService = new Map<string, number>();
  #batch = 0;
  #spanCount = 0;
  #evictedTraces = 0;
  #evictedSpans = 0;
  #duplicateSpans = 0;
  #rejectedSpans = 0;

  constructor(options: SpanStoreOptions = {}) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, spanStoreOptionKeys, "");
    this.#options = parseSpanStoreOptions(obj, reader, "");
    reader.throwIfInvalid();
  }

  /** The retention in force. */
  get options(): ResolvedSpanStoreOptions {
    return this.#options;
  }

  /** Spans held now. */
  get spanCount(): number {
    return this.#spanCount;
  }

  /** Traces held now. */
  get traceCount(): number {
    return this.#traces.size;
  }

  /** Stores spans, evicting old traces as needed to stay within the bounds. */
  add(spans: Iterable<CollectedSpan>): AddSpansResult {
    const now = this.#options.clock.now();
    this.#evictExpired(now);
    let accepted = 0;
    let duplicates = 0;
    let rejected = 0;
    let rejectedTraces: Set<string> | undefined;
    const batch = ++this.#batch;
    for (const span of spans) {
      let record = this.#traces.get(span.traceId);
      if (record === undefined) {
        record = {
          traceId: span.traceId,
          spans: new TraceSpans(),
          services: [],
          startNs: span.startTimeUnixNano,
          endNs: span.endTimeUnixNano,
          errorCount: 0,
          receivedAt: now,
          batch,
          older: undefined,
          newer: undefined,
        };
        this.#traces.set(span.traceId, record);
        this.#append(record);
      } else if (record.batch !== batch) {
        this.#unlink(record);
        this.#append(record);
        record.receivedAt = now;
        record.batch = batch;
      }
      if (record.spans.has(span.spanId)) {
        duplicates++;
        continue;
      }
      if (record.spans.size >= this.#options.maxSpansPerTrace) {
        rejected++;
        rejectedTraces ??= new Set();
        rejectedTraces.add(span.traceId);
        continue;
      }
      this.#insert(record, span);
      accepted++;
      while (this.#spanCount > this.#options.maxSpans) this.#evictOldest();
    }
    this.#duplicateSpans += duplicates;
    this.#rejectedSpans += rejected;
    return {
      accepted,
      duplicates,
      rejected,
      rejectedTraces: rejectedTraces === undefined ? [] : [...rejectedTraces],
    };
  }

  /**
   * Summaries of the traces that match `query`, the most recent start first. Throws an
   * `InvalidTraceQueryError` (`FLT_COLLECTOR_INVALID_QUERY`) for a bad filter.
   */
  listTraces(query: TraceQuery = {}): TraceSummary[] {
    const q = parseTraceQuery(query);
    this.#evictExpired(this.#options.clock.now());
    const service = q.service;
    const fromNs = toNs(q.fromMs);
    const toNsBound = toNs(q.toMs);
    const minDurationNs = BigInt(Math.ceil(q.minDurationMs * 1e6));
    const matches: TraceRecord[] = [];
    for (const record of this.#traces.values()) {
      if (service !== undefined && !record.services.includes(service)) continue;
      if (fromNs !== undefined && record.startNs < fromNs) continue;
      if (toNsBound !== undefined && record.startNs > toNsBound) continue;
      if (q.errorsOnly && record.errorCount === 0) continue;
      if (record.endNs - record.startNs < minDurationNs) continue;
      if (q.operation !== undefined && !hasOperation(record, q.operation, q.service)) continue;
      matches.push(record);
    }
    matches.sort((a, b) =>
      a.startNs > b.startNs ? -1 : a.startNs < b.startNs ? 1 : a.traceId < b.traceId ? -1 : 1,
    );
    return matches.slice(0, q.limit).map((r) => summarizeTrace(r.traceId, r.spans));
  }

  /** One trace as a span tree, or `undefined` when the store does not hold it. Ids are case-insensitive. */
  getTrace(traceId: string): TraceTree | undefined {
    this.#evictExpired(this.#options.clock.now());
    const id = traceId.toLowerCase();
    const record = this.#traces.get(id);
    return record === undefined ? undefined : buildTraceTree(id, record.spans.values());
  }

  /** The summary of one trace, or `undefined` when the store does not hold it. */
  getTraceSummary(traceId: string): TraceSummary | undefined {
    this.#evictExpired(this.#options.clock.now());
    const id = traceId.toLowerCase();
    const record = this.#traces.get(id);
    return record === undefined ? undefined : summarizeTrace(id, record.spans);
  }

  /**
   * The service dependency graph of the spans that started in `window` (all held spans when open).
   * Throws an `InvalidTraceQueryError` for a bad window.
   */
  dependencies(window: TimeWindow = {}): DependencyGraph {
    const w = parseTimeWindow(window);
    this.#evictExpired(this.#options.clock.now());
    return buildDependencyGraph(
      (function* (traces) {
        for (const record of traces) yield record.spans;
      })(this.#traces.values()),
      w,
    );
  }

  /** The services with spans in the store, sorted. */
  services(): string[] {
    this.#evictExpired(this.#options.clock.now());
    return [...this.#tracesPerService.keys()].sort();
  }

  /** The span names of one service, sorted. */
  operations(service: string): string[] {
    this.#evictExpired(this.#options.clock.now());
    const names = new Set<string>();
    for (const record of this.#traces.values()) {
      if (!record.services.includes(service)) continue;
      for (const span of record.spans.values()) if (span.service === service) names.add(span.name);
    }
    return [...names].sort();
  }

  /** Counters for status pages and tests. */
  stats(): SpanStoreStats {
    this.#evictExpired(this.#options.clock.now());
    return {
      traces: this.#traces.size,
      spans: this.#spanCount,
      services: this.#tracesPerService.size,
      maxSpans: this.#options.maxSpans,
      evictedTraces: this.#evictedTraces,
      evictedSpans: this.#evictedSpans,
      duplicateSpans: this.#duplicateSpans,
      rejectedSpans: this.#rejectedSpans,
    };
  }

  /** Drops every trace (counters are kept). */
  clear(): void {
    this.#traces.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
    this.#tracesPerService.clear();
    this.#spanCount = 0;
  }

  #insert(record: TraceRecord, span: CollectedSpan): void {
    record.spans.add(span);
    this.#spanCount++;
    if (span.startTimeUnixNano < record.startNs) record.startNs = span.startTimeUnixNano;
    if (span.endTimeUnixNano > record.endNs) record.endNs = span.endTimeUnixNano;
    if (isErrorSpan(span)) record.errorCount++;
    if (!record.services.includes(span.service)) {
      // A new list of the exact size: one grown by a push would reserve room for 17 services, in
      // every trace that crosses two.
      record.services = record.services.length === 0 ? [span.service] : [...record.services, span.service];
      this.#tracesPerService.set(span.service, (this.#tracesPerService.get(span.service) ?? 0) + 1);
    }
  }

  /** Links `record` in as the most recently updated trace. */
  #append(record: TraceRecord): void {
    record.older = this.#newest;
    record.newer = undefined;
    if (this.#newest === undefined) this.#oldest = record;
    else this.#newest.newer = record;
    this.#newest = record;
  }

  #unlink(record: TraceRecord): void {
    if (record.older === undefined) this.#oldest = record.newer;
    else record.older.newer = record.newer;
    if (record.newer === undefined) this.#newest = record.older;
    else record.newer.older = record.older;
    record.older = undefined;
    record.newer = undefined;
  }

  #evictOldest(): void {
    if (this.#oldest !== undefined) this.#evict(this.#oldest);
  }

  #evictExpired(now: number): void {
    const cutoff = now - this.#options.maxAgeMs;
    while (this.#oldest !== undefined && this.#oldest.receivedAt <= cutoff) this.#evict(this.#oldest);
  }

  #evict(record: TraceRecord): void {
    this.#traces.delete(record.traceId);
    this.#unlink(record);
    this.#spanCount -= record.spans.size;
    this.#evictedTraces++;
    this.#evictedSpans += record.spans.size;
    for (const service of record.services) {
      const traces = (this.#tracesPerService.get(service) ?? 1) - 1;
      if (traces === 0) this.#tracesPerService.delete(service);
      else this.#tracesPerService.set(service, traces);
    }
  }
}

function hasOperation(record: TraceRecord, operation: string, service: string | undefined): boolean {
  for (const span of record.spans.values()) {
    if (span.name === operation && (service === undefined || span.service === service)) return true;
  }
  return false;
}

function toNs(ms: number): bigint | undefined {
  return Number.isFinite(ms) ? BigInt(Math.round(ms * 1e6)) : undefined;
}
