/**
 * The storage a registry server keeps its state in: a small etcd-like key-value store with
 * one monotonic revision counter (the "index"), compare-and-set, TTL leases and ordered watches.
 * Registrations live under `instances/`, lease markers under `leases/`, user KV data under `kv/`;
 * a store knows nothing of that layout.
 *
 * Every implementation passes the shared contract suite in `test/store-contract.ts`.
 */
export interface Store {
  /** A short name for logs and metrics: `embedded`, `etcd`. */
  readonly kind: string;
  /** The entry at `key`, or `undefined`. */
  get(key: string): Promise<StoreEntry | undefined>;
  /** Every entry whose key starts with `prefix` (`""` lists all), sorted by key, and the store index they were read at. */
  list(prefix: string): Promise<StoreSnapshot>;
  /**
   * Writes `value` at `key`. With `cas: 0` the write succeeds only when the key does not exist;
   * with `cas: n > 0` only when the key's `modifyIndex` is `n`. With `lease`, the key is deleted
   * when that lease expires or is revoked; an unknown lease fails with `RegistryUnknownLeaseError`.
   */
  put(key: string, value: string, options?: PutOptions): Promise<WriteResult>;
  /** Deletes `key`; with `cas: n` only when its `modifyIndex` is `n`. Deleting a missing key is `ok: false`. */
  delete(key: string, options?: DeleteOptions): Promise<WriteResult>;
  /** Creates a lease that lapses `ttlMs` after its last {@link Store.keepAlive}; returns its id. */
  grantLease(ttlMs: number): Promise<LeaseGrant>;
  /** Renews a lease. `false` when the lease is unknown (expired, revoked or never granted). */
  keepAlive(leaseId: string): Promise<boolean>;
  /** Ends a lease now, deleting every key attached to it. `false` when it was unknown. */
  revokeLease(leaseId: string): Promise<boolean>;
  /**
   * Streams every change to keys under `prefix` with an index greater than `afterIndex`, in
   * index order, starting with changes already made (replay) and then live. When the history
   * needed for the replay is gone (compacted), `onReset` is called instead and the watch continues
   * with live changes only; the caller re-reads with {@link Store.list}.
   */
  watch(prefix: string, afterIndex: number, handlers: StoreWatchHandlers): StoreWatch;
  /** The highest index the store has assigned. */
  currentIndex(): Promise<number>;
  /** Stops timers, watches and connections; flushes anything durable. Idempotent. */
  close(): Promise<void>;
}

/** One key and its value, with the indexes of its creation and of its last change. */
export interface StoreEntry {
  readonly key: string;
  readonly value: string;
  /** Index of the write that created the key (reset when the key is deleted and created again). */
  readonly createIndex: number;
  /** Index of the last write to the key; what `cas` compares against. */
  readonly modifyIndex: number;
  /** The lease the key is attached to, when there is one. */
  readonly lease?: string;
}

/** Entries read at one consistent index. */
export interface StoreSnapshot {
  readonly entries: readonly StoreEntry[];
  readonly index: number;
}

/** Options of {@link Store.put}. */
export interface PutOptions {
  /** `0`: create only; `n`: only when the current `modifyIndex` is `n`. */
  readonly cas?: number;
  /** Attach the key to this lease. */
  readonly lease?: string;
}

/** Options of {@link Store.delete}. */
export interface DeleteOptions {
  readonly cas?: number;
}

/**
 * What a write did. `ok: true` carries the index the write was given (the key's new
 * `modifyIndex`); `ok: false` (cas mismatch or missing key) carries the current entry, if any.
 */
export type WriteResult =
  | { readonly ok: true; readonly index: number }
  | { readonly ok: false; readonly index: number; readonly current: StoreEntry | undefined };

/** A granted lease. */
export interface LeaseGrant {
  readonly id: string;
  readonly ttlMs: number;
}

/** One change. For `delete`, `entry` is absent and `previous` is the deleted entry when known. */
export interface StoreEvent {
  readonly type: "put" | "delete";
  readonly key: string;
  readonly index: number;
  readonly entry?: StoreEntry;
  readonly previous?: StoreEntry;
}

/** Callbacks of {@link Store.watch}. Events arrive in batches, in index order, never twice. */
export interface StoreWatchHandlers {
  onEvents(events: readonly StoreEvent[]): void;
  /** The replay could not be served; the caller must re-list. */
  onReset?(index: number): void;
  /** The watch broke (connection lost); a store reconnects by itself and resumes after the last delivered index where it can. */
  onError?(error: Error): void;
}

/** A running watch. */
export interface StoreWatch {
  close(): void;
}
