import { type CollectedSpan, isErrorSpan } from "./collected-span.js";
import type { ResolvedTimeWindow } from "./trace-query.js";

/** A service seen in the window. */
export interface DependencyNode {
  readonly service: string;
  /** Its spans that started in the window. */
  readonly spanCount: number;
  /** Of those, the ones whose status is ERROR. */
  readonly errorCount: number;
}

/**
 * Calls from one service to another: every span of `callee` whose parent span belongs to `caller`.
 * Latencies and errors are those of the callee's spans.
 */
export interface DependencyEdge {
  readonly caller: string;
  readonly callee: string;
  readonly calls: number;
  readonly errors: number;
  /** `errors / calls`, 0–1. */
  readonly errorRate: number;
  /** Median callee span duration, milliseconds (nearest rank). */
  readonly p50Ms: number;
  /** 99th percentile callee span duration, milliseconds (nearest rank). */
  readonly p99Ms: number;
}

/** The service dependency graph of the spans that started in a window. */
export interface DependencyGraph {
  /** Sorted by service. */
  readonly nodes: readonly DependencyNode[];
  /** Sorted by caller, then callee. */
  readonly edges: readonly DependencyEdge[];
}

/**
 * Derives the service dependency graph from parent → child span pairs of the same trace whose
 * services differ (caller → callee), counting each child span that started inside `window`.
 */
export function buildDependencyGraph(
  traces: Iterable<ReadonlyMap<string, CollectedSpan>>,
  window: ResolvedTimeWindow,
): DependencyGraph {
  const nodes = new Map<string, { spanCount: number; errorCount: number }>();
  const edges = new Map<string, { caller: string; callee: string; errors: number; durations: number[] }>();
  for (const spans of traces) {
    for (const span of spans.values()) {
      if (span.startMs < window.fromMs || span.startMs > window.toMs) continue;
      const error = isErrorSpan(span);
      const node = nodes.get(span.service) ?? { spanCount: 0, errorCount: 0 };
      node.spanCount++;
      if (error) node.errorCount++;
      nodes.set(span.service, node);
      const parent = span.parentSpanId === undefined ? undefined : spans.get(span.parentSpanId);
      if (parent === undefined || parent.service === span.service) continue;
      const key = `${parent.service}\u0000${span.service}`;
      let edge = edges.get(key);
      if (edge === undefined) {
        edge = { caller: parent.service, callee: span.service, errors: 0, durations: [] };
        edges.set(key, edge);
      }
      edge.durations.push(span.durationMs);
      if (error) edge.errors++;
    }
  }
  return {
    nodes: [...nodes]
      .map(([service, n]) => ({ service, spanCount: n.spanCount, errorCount: n.errorCount }))
      .sort((a, b) => compare(a.service, b.service)),
    edges: [...edges.values()]
      .map((e) => {
        const sorted = e.durations.sort((a, b) => a - b);
        return {
          caller: e.caller,
          callee: e.callee,
          calls: sorted.length,
          errors: e.errors,
          errorRate: e.errors / sorted.length,
          p50Ms: nearestRank(sorted, 0.5),
          p99Ms: nearestRank(sorted, 0.99),
        };
      })
      .sort((a, b) => compare(a.caller, b.caller) || compare(a.callee, b.callee)),
  };
}

/** The nearest-rank percentile of ascending `sorted` (not empty). */
function nearestRank(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
