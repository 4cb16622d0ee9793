import { type CollectedSpan, isErrorSpan } from "./collected-span.js";

/** One span in a {@link TraceTree}, with its children sorted by start. */
export interface SpanNode {
  readonly span: CollectedSpan;
  /** 0 for a node at the root level. */
  readonly depth: number;
  /**
   * True for a span at the root level that is not a real root: its parent has not arrived (yet), or
   * the spans' parent links form a cycle, which the tree breaks at its earliest span.
   */
  readonly orphan: boolean;
  readonly children: readonly SpanNode[];
}

/** A trace as a span tree. */
export interface TraceTree {
  readonly traceId: string;
  /** The earliest start of any span, in Unix epoch milliseconds. */
  readonly startMs: number;
  readonly startTimeUnixNano: bigint;
  /** From the earliest start to the latest end, in milliseconds. */
  readonly durationMs: number;
  readonly spanCount: number;
  readonly errorCount: number;
  /** Every service with a span in the trace, sorted. */
  readonly services: readonly string[];
  /** Root spans and orphans, sorted by start. */
  readonly roots: readonly SpanNode[];
}

/** One line of a flattened tree: a span, its depth and whether it is an orphan. */
export interface TraceRow {
  readonly span: CollectedSpan;
  readonly depth: number;
  readonly orphan: boolean;
  /** How many children the span has in the tree. */
  readonly childCount: number;
}

interface MutableNode {
  readonly span: CollectedSpan;
  depth: number;
  orphan: boolean;
  readonly children: MutableNode[];
}

const byStart = (a: MutableNode, b: MutableNode): number =>
  a.span.startTimeUnixNano < b.span.startTimeUnixNano
    ? -1
    : a.span.startTimeUnixNano > b.span.startTimeUnixNano
      ? 1
      : a.span.spanId < b.span.spanId
        ? -1
        : a.span.spanId > b.span.spanId
          ? 1
          : 0;

/**
 * Builds the span tree of one trace's spans (span ids unique). Children and roots are sorted by
 * start (then span id). A span whose parent is not among `spans` goes to the root level marked as
 * an orphan. Works without recursion, so chains of any depth and even parent cycles from bad data
 * are safe: spans not reachable from any root (a cycle and what hangs below it) are cut loose
 * earliest first, each becoming an orphan root, until every span is in the tree.
 */
export function buildTraceTree(traceId: string, spans: Iterable<CollectedSpan>): TraceTree {
  const nodes = new Map<string, MutableNode>();
  for (const span of spans) nodes.set(span.spanId, { span, depth: 0, orphan: false, children: [] });
  const parents = new Map<MutableNode, MutableNode>();
  const roots: MutableNode[] = [];
  let startNs: bigint | undefined;
  let endNs: bigint | undefined;
  let errorCount = 0;
  const services = new Set<string>();
  for (const node of nodes.values()) {
    const { span } = node;
    if (startNs === undefined || span.startTimeUnixNano < startNs) startNs = span.startTimeUnixNano;
    if (endNs === undefined || span.endTimeUnixNano > endNs) endNs = span.endTimeUnixNano;
    if (isErrorSpan(span)) errorCount++;
    services.add(span.service);
    const parent = span.parentSpanId === undefined ? undefined : nodes.get(span.parentSpanId);
    if (span.parentSpanId === undefined) roots.push(node);
    else if (parent === undefined || parent === node) {
      node.orphan = true;
      roots.push(node);
    } else {
      parents.set(node, parent);
      parent.children.push(node);
    }
  }
  const visited = new Set<MutableNode>();
  visit(roots, visited);
  if (visited.size < nodes.size) {
    // Whatever the walk from the roots did not reach hangs in or under a parent cycle.
    const unreached = [...nodes.values()].filter((n) => !visited.has(n)).sort(byStart);
    for (const cut of unreached) {
      if (visited.has(cut)) continue;
      const siblings = parents.get(cut)!.children;
      siblings.splice(siblings.indexOf(cut), 1);
      cut.orphan = true;
      roots.push(cut);
      visit([cut], visited);
    }
  }
  roots.sort(byStart);
  const zero = startNs ?? 0n;
  return {
    traceId,
    startMs: Number(zero) / 1e6,
    startTimeUnixNano: zero,
    durationMs: Number((endNs ?? zero) - zero) / 1e6,
    spanCount: nodes.size,
    errorCount,
    services: [...services].sort(),
    roots,
  };
}

/** Marks nodes visited, assigns depths and sorts children, depth first, without recursion. */
function visit(start: readonly MutableNode[], visited: Set<MutableNode>): void {
  const stack = [...start];
  for (const node of stack) node.depth = 0;
  while (stack.length > 0) {
    const node = stack.pop()!;
    visited.add(node);
    node.children.sort(byStart);
    for (const child of node.children) {
      child.depth = node.depth + 1;
      stack.push(child);
    }
  }
}

/** The tree's spans in display order (depth first, children by start), without recursion. */
export function flattenTraceTree(tree: TraceTree): TraceRow[] {
  const rows: TraceRow[] = [];
  const stack: SpanNode[] = [...tree.roots].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    rows.push({ span: node.span, depth: node.depth, orphan: node.orphan, childCount: node.children.length });
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return rows;
}
