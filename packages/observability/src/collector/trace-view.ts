import type { CollectedSpan } from "./collected-span.js";
import { flattenTraceTree, type TraceTree } from "./trace-tree.js";

/** A span of a {@link TraceView}: the stored span with its place in the tree. */
export type TraceViewSpan = CollectedSpan & {
  readonly depth: number;
  readonly orphan: boolean;
  readonly childCount: number;
};

/**
 * A trace tree flattened for transport: the spans in display order (depth first, children by
 * start) each with its depth, orphan mark and child count. Flat, because a nested tree of a few
 * thousand levels — a long chain of spans — is more than `JSON.stringify` can recurse into.
 * This is the body of `GET /api/traces/{traceId}` (with 64-bit integers as decimal strings and
 * bytes as base64), and what {@link renderWaterfall} draws.
 */
export interface TraceView {
  readonly traceId: string;
  readonly startMs: number;
  readonly startTimeUnixNano: bigint;
  readonly durationMs: number;
  readonly spanCount: number;
  readonly errorCount: number;
  readonly services: readonly string[];
  readonly spans: readonly TraceViewSpan[];
}

/** Flattens a {@link TraceTree} into a {@link TraceView}. */
export function traceView(tree: TraceTree): TraceView {
  return {
    traceId: tree.traceId,
    startMs: tree.startMs,
    startTimeUnixNano: tree.startTimeUnixNano,
    durationMs: tree.durationMs,
    spanCount: tree.spanCount,
    errorCount: tree.errorCount,
    services: tree.services,
    spans: flattenTraceTree(tree).map((row) => ({
      ...row.span,
      depth: row.depth,
      orphan: row.orphan,
      childCount: row.childCount,
    })),
  };
}
