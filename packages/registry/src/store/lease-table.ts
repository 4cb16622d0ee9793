/** One live lease of an {@link LeaseTable}. */
export interface Lease {
  readonly id: string;
  readonly ttlMs: number;
  /** Clock reading at which the lease lapses unless renewed. */
  deadline: number;
  /** The keys attached to the lease. */
  readonly keys: Set<string>;
  /** Its expiry is being written: renewals fail from now on. */
  ending: boolean;
}

/**
 * The live leases of a store, by id. Renewal only moves a deadline in memory, so it is O(1) and
 * never touches the disk; {@link LeaseTable.lapsed} scans for leases past their deadline.
 */
export class LeaseTable {
  readonly #leases = new Map<string, Lease>();

  /** The number of live leases. */
  get size(): number {
    return this.#leases.size;
  }

  /** The lease with `id`, whether or not it is ending. */
  get(id: string): Lease | undefined {
    return this.#leases.get(id);
  }

  /** Adds a lease that lapses at `now + ttlMs`. */
  add(id: string, ttlMs: number, now: number): Lease {
    const lease: Lease = { id, ttlMs, deadline: now + ttlMs, keys: new Set(), ending: false };
    this.#leases.set(id, lease);
    return lease;
  }

  /** Forgets a lease. */
  delete(id: string): void {
    this.#leases.delete(id);
  }

  /** Moves a live lease's deadline to `now + ttl`; false when it is unknown or ending. */
  renew(id: string, now: number): boolean {
    const lease = this.#leases.get(id);
    if (lease === undefined || lease.ending) return false;
    lease.deadline = now + lease.ttlMs;
    return true;
  }

  /** The leases whose deadline is at or before `now` and whose expiry has not begun. */
  lapsed(now: number): Lease[] {
    const out: Lease[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.deadline <= now && !lease.ending) out.push(lease);
    }
    return out;
  }

  /** Every lease, in the order they were granted. */
  values(): IterableIterator<Lease> {
    return this.#leases.values();
  }
}
