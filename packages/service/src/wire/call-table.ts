/**
 * The calls in flight on one wire connection, by call id (a 32-bit unsigned integer): an
 * open-addressing table — linear probing, backward-shift deletion — over two arrays, used instead
 * of a `Map`.
 *
 * Why not a `Map`: one that gains and loses an entry per call is rehashed every few dozen calls,
 * and once the `Map` has lived through a full collection V8 allocates each new hash table in the
 * old generation; the tables it leaves behind still hold the entries they had — calls, and through
 * them everything each call references — so every scavenge keeps those alive until the next full
 * collection, which then comes every fraction of a second. Reduced to a loop of 32 calls in
 * flight, half of all allocation survived each scavenge with a `Map` (1 % with this table); the
 * gateway's investigation of the same state is in bench/gateway/RESULTS.md.
 */
export class CallTable<T> {
  /** `id + 1` per slot, so that 0 marks an empty slot and id 0 is still a valid key. */
  #keys: number[];
  #values: (T | undefined)[];
  #mask: number;
  #size = 0;

  /** `capacity`: slots to start with, a power of two; the table doubles when half full. */
  constructor(capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 2 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`capacity must be a power of two ≥ 2, got ${capacity}`);
    }
    this.#keys = new Array<number>(capacity).fill(0);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  /** Entries now. */
  get size(): number {
    return this.#size;
  }

  get(id: number): T | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#values[i];
  }

  has(id: number): boolean {
    return this.#find(id) >= 0;
  }

  /** Stores `value` under `id`, replacing what was there. */
  set(id: number, value: T): void {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const i = this.#slot(id);
    if (this.#keys[i] === 0) {
      this.#keys[i] = id + 1;
      this.#size++;
    }
    this.#values[i] = value;
  }

  /** Removes `id`; returns what it held. */
  delete(id: number): T | undefined {
    let i = this.#find(id);
    if (i < 0) return undefined;
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    const value = values[i];
    // Backward-shift deletion: pull later entries of the same probe run into the hole, so that
    // lookups never need tombstones (Knuth, TAOCP vol. 3, 6.4, algorithm R).
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j]!;
      if (k === 0) break;
      const home = (k - 1) & mask;
      const movable = i <= j ? home <= i || home > j : home <= i && home > j;
      if (movable) {
        keys[i] = k;
        values[i] = values[j];
        i = j;
      }
    }
    keys[i] = 0;
    values[i] = undefined;
    this.#size--;
    return value;
  }

  /** The values, in no particular order. */
  values(): T[] {
    const out: T[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) out.push(this.#values[i]!);
    return out;
  }

  clear(): void {
    this.#keys.fill(0);
    this.#values.fill(undefined);
    this.#size = 0;
  }

  /** Where `id` is, or -1. */
  #find(id: number): number {
    const i = this.#slot(id);
    return this.#keys[i] === 0 ? -1 : i;
  }

  /** The slot holding `id`, or the empty slot that ends its probe run. */
  #slot(id: number): number {
    const key = id + 1;
    const keys = this.#keys;
    const mask = this.#mask;
    let i = id & mask;
    for (;;) {
      const k = keys[i]!;
      if (k === key || k === 0) return i;
      i = (i + 1) & mask;
    }
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    const capacity = oldKeys.length * 2;
    this.#keys = new Array<number>(capacity).fill(0);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
    this.#size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k !== 0) this.set(k - 1, oldValues[i]!);
    }
  }
}
