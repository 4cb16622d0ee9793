import type { CompiledRoute } from "./compiled-route.js";

/**
 * A node of the segment trie that indexes template and prefix routes. A node stands for a
 * sequence of path segments; a literal child follows one exact segment, the parameter child
 * any non-empty one. Route lists are kept in precedence order.
 */
export class SegmentTrie<T> {
  /** Children by literal segment. */
  literals: Map<string, SegmentTrie<T>> | undefined;
  /** The child for a `:param` segment, shared by every parameter name at this position. */
  param: SegmentTrie<T> | undefined;
  /** Templates that end exactly here. */
  readonly terminal: CompiledRoute<T>[] = [];
  /** Templates ending in `/*` right after this node. */
  readonly rest: CompiledRoute<T>[] = [];
  /** Prefixes ending here. */
  readonly prefix: CompiledRoute<T>[] = [];
  /** The lowest rank in this subtree, set by {@link SegmentTrie.sort}: a search holding a better match skips the subtree. */
  minRank = Number.POSITIVE_INFINITY;

  /** The child for a literal segment, created when missing. */
  literal(segment: string): SegmentTrie<T> {
    this.literals ??= new Map();
    let child = this.literals.get(segment);
    if (child === undefined) {
      child = new SegmentTrie<T>();
      this.literals.set(segment, child);
    }
    return child;
  }

  /** The parameter child, created when missing. */
  parameter(): SegmentTrie<T> {
    this.param ??= new SegmentTrie<T>();
    return this.param;
  }

  /** Sorts every route list of this node and its descendants by rank and sets `minRank`; returns it. */
  sort(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const list of [this.terminal, this.rest, this.prefix]) {
      list.sort(byRank);
      if (list.length > 0) min = Math.min(min, list[0]!.rank);
    }
    if (this.literals !== undefined)
      for (const child of this.literals.values()) min = Math.min(min, child.sort());
    if (this.param !== undefined) min = Math.min(min, this.param.sort());
    this.minRank = min;
    return min;
  }
}

function byRank(a: CompiledRoute<unknown>, b: CompiledRoute<unknown>): number {
  return a.rank - b.rank;
}
