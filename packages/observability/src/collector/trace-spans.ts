import type { CollectedSpan } from "./collected-span.js";

/**
 * The spans of one stored trace by span id, as a read-only `Map`. Most traces the collector holds
 * have a single span (a sampled request to a service that calls nothing); such a trace keeps its
 * span in a field and builds no hash table, which the store would otherwise allocate, keep and
 * walk in garbage collection for every trace. A second span moves both into a `Map`.
 * @internal
 */
export class TraceSpans implements ReadonlyMap<string, CollectedSpan> {
  #only: CollectedSpan | undefined;
  #many: Map<string, CollectedSpan> | undefined;

  get size(): number {
    return this.#many?.size ?? (this.#only === undefined ? 0 : 1);
  }

  /** Adds `span` under its id; the store checks for a duplicate id before. */
  add(span: CollectedSpan): void {
    if (this.#many !== undefined) {
      this.#many.set(span.spanId, span);
    } else if (this.#only === undefined) {
      this.#only = span;
    } else {
      this.#many = new Map([
        [this.#only.spanId, this.#only],
        [span.spanId, span],
      ]);
      this.#only = undefined;
    }
  }

  get(spanId: string): CollectedSpan | undefined {
    if (this.#many !== undefined) return this.#many.get(spanId);
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
