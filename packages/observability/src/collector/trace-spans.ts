import type { CollectedSpan } from "./collected-span.js";

// Up to this many spans a trace keeps them in a list, searched from the end: a list of a few spans
// is smaller than a hash table and as quick to search.
const maxListed = 16;

/**
 * The spans of one stored trace by span id, as a read-only `Map`. Most traces the collector holds
 * have a single span (a sampled request to a service that calls nothing) or a few (a call and its
 * server span); such a trace keeps its span in a field, or its spans in a short list, and builds no
 * hash table, which the store would otherwise allocate, keep and walk in garbage collection for
 * every trace. The seventeenth span moves them all into a `Map`.
 * @internal
 */
export class TraceSpans implements ReadonlyMap<string, CollectedSpan> {
  #only: CollectedSpan | undefined;
  #list: CollectedSpan[] | undefined;
  #many: Map<string, CollectedSpan> | undefined;

  get size(): number {
    return this.#many?.size ?? this.#list?.length ?? (this.#only === undefined ? 0 : 1);
  }

  /** Adds `span` under its id; the store checks for a duplicate id before. */
  add(span: CollectedSpan): void {
    if (this.#many !== undefined) {
      this.#many.set(span.spanId, span);
    } else if (this.#list !== undefined) {
      if (this.#list.length < maxListed) {
        // A new list of the exact size: one grown by a push would make room for 17 more spans.
        this.#list = [...this.#list, span];
        return;
      }
      this.#many = new Map(this.#list.map((listed) => [listed.spanId, listed]));
      this.#many.set(span.spanId, span);
      this.#list = undefined;
    } else if (this.#only === undefined) {
      this.#only = span;
    } else {
      this.#list = [this.#only, span];
      this.#only = undefined;
    }
  }

  get(spanId: string): CollectedSpan | undefined {
    if (this.#many !== undefined) return this.#many.get(spanId);
    const list = this.#list;
    if (list !== undefined) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]!.spanId === spanId) return list[i];
      return undefined;
    }
    return this.#only?.spanId === spanId ? this.#only : undefined;
  }

  has(spanId: string): boolean {
    return this.get(spanId) !== undefined;
  }

  *entries(): MapIterator<[string, CollectedSpan]> {
    for (const span of this.values()) yield [span.spanId, span];
  }

  *keys(): MapIterator<string> {
    for (const span of this.values()) yield span.spanId;
  }

  *values(): MapIterator<CollectedSpan> {
    if (this.#many !== undefined) yield* this.#many.values();
    else if (this.#list !== undefined) yield* this.#list;
    else if (this.#only !== undefined) yield this.#only;
  }

  forEach(
    callback: (value: CollectedSpan, key: string, map: ReadonlyMap<string, CollectedSpan>) => void,
    thisArg?: unknown,
  ): void {
    for (const span of this.values()) callback.call(thisArg, span, span.spanId, this);
  }

  [Symbol.iterator](): MapIterator<[string, CollectedSpan]> {
    return this.entries();
  }
}
