import { RegistryUnknownLeaseError } from "../registry-error.js";
import type { StoreEntry, WriteResult } from "./store.js";
import type { StoreRecord } from "./store-record.js";
import type { StoreState } from "./store-state.js";

/** A write asked of an embedded store, before it is checked and given an index. */
export type StoreOp =
  | {
      readonly op: "put";
      readonly key: string;
      readonly value: string;
      readonly cas?: number | undefined;
      readonly lease?: string | undefined;
    }
  | { readonly op: "delete"; readonly key: string; readonly cas?: number | undefined }
  | { readonly op: "grant"; readonly id: string; readonly ttlMs: number }
  | { readonly op: "revoke"; readonly id: string }
  | { readonly op: "expire"; readonly ids: readonly string[] };

/** What a checked {@link StoreOp} answers once its records are durable and applied. */
export type StoreOpResult = WriteResult | boolean | undefined;

/**
 * Checks a batch of writes against the state plus the writes before them in the same batch, and
 * turns each into log records with its indexes — without changing the state. The records are
 * applied with {@link StoreState.apply} only after they are durable, so a failed disk write leaves
 * the state as it was; the next batch is checked only after this one is applied.
 */
export class StoreBatch {
  readonly records: StoreRecord[] = [];
  readonly #state: StoreState;
  /** Keys written in this batch: the new entry, or `null` when deleted. */
  readonly #entries = new Map<string, StoreEntry | null>();
  /** Leases granted (`true`) or ended (`false`) in this batch. */
  readonly #leases = new Map<string, boolean>();
  #index: number;
  #seq: number;

  constructor(state: StoreState) {
    this.#state = state;
    this.#index = state.index;
    this.#seq = state.seq;
  }

  /** Checks one write and records it; throws {@link RegistryUnknownLeaseError} for a put with an unknown lease. */
  add(op: StoreOp): StoreOpResult {
    switch (op.op) {
      case "put":
        return this.#put(op.key, op.value, op.cas, op.lease);
      case "delete":
        return this.#delete(op.key, op.cas);
      case "grant":
        this.#leases.set(op.id, true);
        this.records.push({ s: ++this.#seq, op: "grant", i: this.#index, id: op.id, ttl: op.ttlMs });
        return undefined;
      case "revoke":
        if (!this.#leaseAlive(op.id, false)) return false;
        this.#endLease(op.id, "revoke");
        return true;
      case "expire":
        for (const id of op.ids) if (this.#leaseAlive(id, true)) this.#endLease(id, "expire");
        return undefined;
    }
  }

  #entry(key: string): StoreEntry | undefined {
    const staged = this.#entries.get(key);
    return staged === undefined ? this.#state.entries.get(key) : (staged ?? undefined);
  }

  /** With `ending`, a lease whose expiry has begun still counts: only the expiry may end it. */
  #leaseAlive(id: string, ending: boolean): boolean {
    const staged = this.#leases.get(id);
    if (staged !== undefined) return staged;
    const lease = this.#state.leases.get(id);
    return lease !== undefined && (ending || !lease.ending);
  }

  #put(key: string, value: string, cas: number | undefined, lease: string | undefined): WriteResult {
    if (lease !== undefined && !this.#leaseAlive(lease, false)) throw new RegistryUnknownLeaseError(lease);
    const current = this.#entry(key);
    if (cas !== undefined && (cas === 0 ? current !== undefined : current?.modifyIndex !== cas))
      return { ok: false, index: this.#index, current };
    const i = ++this.#index;
    const c = current?.createIndex ?? i;
    if (lease === undefined) {
      this.records.push({ s: ++this.#seq, op: "put", i, k: key, v: value, c });
      this.#entries.set(key, { key, value, createIndex: c, modifyIndex: i });
    } else {
      this.records.push({ s: ++this.#seq, op: "put", i, k: key, v: value, c, l: lease });
      this.#entries.set(key, { key, value, createIndex: c, modifyIndex: i, lease });
    }
    return { ok: true, index: i };
  }

  #delete(key: string, cas: number | undefined): WriteResult {
    const current = this.#entry(key);
    if (current === undefined || (cas !== undefined && current.modifyIndex !== cas))
      return { ok: false, index: this.#index, current };
    const i = ++this.#index;
    this.records.push({ s: ++this.#seq, op: "del", i, k: key });
    this.#entries.set(key, null);
    return { ok: true, index: i };
  }

  #endLease(id: string, op: "revoke" | "expire"): void {
    const keys = new Set(this.#state.leases.get(id)?.keys);
    for (const [key, entry] of this.#entries) if (entry?.lease === id) keys.add(key);
    const attached = [...keys].filter((key) => this.#entry(key)?.lease === id).sort();
    const i = attached.length === 0 ? this.#index : this.#index + 1;
    this.#index += attached.length;
    for (const key of attached) this.#entries.set(key, null);
    this.#leases.set(id, false);
    this.records.push({ s: ++this.#seq, op, i, id, keys: attached });
  }
}
