const maxChunk = 512;

/**
 * A sorted set of strings kept as a list of sorted chunks of at most 512 keys, so that insert
 * and delete cost O(log n + 512) and listing a prefix costs O(log n + k) — the layout of Python's
 * `sortedcontainers.SortedList`, without a tree's per-node allocations. Keys compare as
 * JavaScript strings (UTF-16 code units), which is byte order for ASCII keys.
 */
export class SortedKeys {
  #chunks: string[][] = [];
  #size = 0;

  /** A set holding `sorted`, which must already be sorted and free of duplicates. */
  static fromSorted(sorted: readonly string[]): SortedKeys {
    const keys = new SortedKeys();
    for (let i = 0; i < sorted.length; i += maxChunk / 2)
      keys.#chunks.push(sorted.slice(i, i + maxChunk / 2));
    keys.#size = sorted.length;
    return keys;
  }

  /** The number of keys. */
  get size(): number {
    return this.#size;
  }

  /** Adds `key`; a key already present is left alone. */
  insert(key: string): void {
    const chunks = this.#chunks;
    if (chunks.length === 0) {
      chunks.push([key]);
      this.#size = 1;
      return;
    }
    let c = this.#chunkFor(key);
    if (c === chunks.length) c--;
    const chunk = chunks[c]!;
    const at = lowerBound(chunk, key);
    if (chunk[at] === key) return;
    chunk.splice(at, 0, key);
    this.#size++;
    if (chunk.length > maxChunk) chunks.splice(c + 1, 0, chunk.splice(maxChunk / 2));
  }

  /** Removes `key`; true when it was present. */
  delete(key: string): boolean {
    const c = this.#chunkFor(key);
    const chunk = this.#chunks[c];
    if (chunk === undefined) return false;
    const at = lowerBound(chunk, key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(c, 1);
    return true;
  }

  /** Every key that starts with `prefix`, in order. */
  withPrefix(prefix: string): string[] {
    const out: string[] = [];
    const chunks = this.#chunks;
    let c = prefix === "" ? 0 : this.#chunkFor(prefix);
    if (c >= chunks.length) return out;
    let i = prefix === "" ? 0 : lowerBound(chunks[c]!, prefix);
    for (; c < chunks.length; c++, i = 0) {
      const chunk = chunks[c]!;
      for (; i < chunk.length; i++) {
        const key = chunk[i]!;
        if (!key.startsWith(prefix)) return out;
        out.push(key);
      }
    }
    return out;
  }

  /** The index of the first chunk whose last key is at least `key`; `chunks.length` when none is. */
  #chunkFor(key: string): number {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (chunk[chunk.length - 1]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
