import { LeaseTable } from "./lease-table.js";
import type { SnapshotFile } from "./snapshot-file.js";
import { SortedKeys } from "./sorted-keys.js";
import type { StoreEntry, StoreEvent } from "./store.js";
import type { StoreRecord } from "./store-record.js";

/**
 * The in-memory state of an embedded store: entries by key (O(1) reads), the same keys sorted for
 * prefix listings, the live leases, the store index and the log sequence. It changes only through
 * {@link StoreState.apply}, which both the live write path and the replay of the log on start use,
 * so a restarted store is exactly the store that wrote the log.
 */
export class StoreState {
  readonly entries = new Map<string, StoreEntry>();
  keys = new SortedKeys();
  readonly leases = new LeaseTable();
  /** The highest index assigned. */
  index = 0;
  /** The sequence number of the last record applied. */
  seq = 0;

  /** A state holding a snapshot's content, its leases lapsing `ttl` after `now`. */
  static fromSnapshot(snapshot: SnapshotFile, now: number): StoreState {
    const state = new StoreState();
    state.index = snapshot.index;
    state.seq = snapshot.seq;
    for (const [id, ttl] of snapshot.leases) state.leases.add(id, ttl, now);
    const sorted: string[] = [];
    for (const [key, value, createIndex, modifyIndex, lease] of snapshot.entries) {
      const entry: StoreEntry =
        lease === undefined
          ? { key, value, createIndex, modifyIndex }
          : { key, value, createIndex, modifyIndex, lease };
      if (lease !== undefined) {
        const owner = state.leases.get(lease);
        if (owner === undefined) throw new Error(`key "${key}" is attached to unknown lease "${lease}"`);
        owner.keys.add(key);
      }
      if (modifyIndex > snapshot.index || createIndex > modifyIndex)
        throw new Error(`key "${key}" has indexes ${createIndex}/${modifyIndex} beyond ${snapshot.index}`);
      if (sorted.length > 0 && sorted[sorted.length - 1]! >= key) throw new Error("entries are not sorted");
      sorted.push(key);
      state.entries.set(key, entry);
    }
    state.keys = SortedKeys.fromSorted(sorted);
    return state;
  }

  /** The whole state as a snapshot, entries sorted by key. */
  snapshot(): SnapshotFile {
    const entries: SnapshotFile["entries"][number][] = [];
    for (const key of this.keys.withPrefix("")) {
      const e = this.entries.get(key)!;
      entries.push(
        e.lease === undefined
          ? [e.key, e.value, e.createIndex, e.modifyIndex]
          : [e.key, e.value, e.createIndex, e.modifyIndex, e.lease],
      );
    }
    const leases: [string, number][] = [];
    for (const lease of this.leases.values()) leases.push([lease.id, lease.ttlMs]);
    return { version: 1, seq: this.seq, index: this.index, entries, leases };
  }

  /**
   * Applies one record and returns the events it makes. Throws an `Error` naming the inconsistency
   * when the record does not follow from the state (a corrupt or foreign log), before changing anything.
   */
  apply(record: StoreRecord, now: number): StoreEvent[] {
    if (record.s !== this.seq + 1) throw new Error(`sequence ${record.s} does not follow ${this.seq}`);
    let events: StoreEvent[];
    switch (record.op) {
      case "put":
        events = [this.#put(record.k, record.v, record.i, record.c, record.l)];
        break;
      case "del":
        events = [this.#delete(record.k, record.i)];
        break;
      case "grant":
        this.#expectIndex(record.i, 0);
        if (this.leases.get(record.id) !== undefined) throw new Error(`lease "${record.id}" granted twice`);
        this.leases.add(record.id, record.ttl, now);
        events = [];
        break;
      case "revoke":
      case "expire":
        events = this.#endLease(record.id, record.i, record.keys);
        break;
    }
    this.seq = record.s;
    return events;
  }

  #expectIndex(index: number, step: number): void {
    if (index !== this.index + step)
      throw new Error(`index ${index} where ${this.index + step} was expected`);
  }

  #put(
    key: string,
    value: string,
    index: number,
    createIndex: number,
    lease: string | undefined,
  ): StoreEvent {
    this.#expectIndex(index, 1);
    const previous = this.entries.get(key);
    if (createIndex !== (previous === undefined ? index : previous.createIndex))
      throw new Error(`key "${key}" has create index ${createIndex}, which does not match its history`);
    const owner = lease === undefined ? undefined : this.leases.get(lease);
    if (lease !== undefined && owner === undefined)
      throw new Error(`key "${key}" is attached to unknown lease "${lease}"`);
    const entry: StoreEntry =
      lease === undefined
        ? { key, value, createIndex, modifyIndex: index }
        : { key, value, createIndex, modifyIndex: index, lease };
    if (previous?.lease !== undefined) this.leases.get(previous.lease)?.keys.delete(key);
    owner?.keys.add(key);
    if (previous === undefined) this.keys.insert(key);
    this.entries.set(key, entry);
    this.index = index;
    return previous === undefined
      ? { type: "put", key, index, entry }
      : { type: "put", key, index, entry, previous };
  }

  #delete(key: string, index: number): StoreEvent {
    this.#expectIndex(index, 1);
    const previous = this.entries.get(key);
    if (previous === undefined) throw new Error(`key "${key}" deleted but absent`);
    if (previous.lease !== undefined) this.leases.get(previous.lease)?.keys.delete(key);
    this.entries.delete(key);
    this.keys.delete(key);
    this.index = index;
    return { type: "delete", key, index, previous };
  }

  #endLease(id: string, index: number, keys: readonly string[]): StoreEvent[] {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new Error(`lease "${id}" ended but unknown`);
    if (keys.length === 0) this.#expectIndex(index, 0);
    if (
      keys.length !== lease.keys.size ||
      new Set(keys).size !== keys.length ||
      !keys.every((k) => lease.keys.has(k))
    )
      throw new Error(`lease "${id}" ended with keys that are not the ones attached to it`);
    const events: StoreEvent[] = [];
    for (let j = 0; j < keys.length; j++) events.push(this.#delete(keys[j]!, index + j));
    this.leases.delete(id);
    return events;
  }
}
