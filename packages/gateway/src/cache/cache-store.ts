import type { CacheEntry } from "./cache-entry.js";

/**
 * Where the response cache keeps its entries. Implementations never reject: a store that
 * cannot answer (Redis down, timeout) reports a miss and drops writes, because a cache
 * failure must never fail the request.
 */
export interface CacheStore {
  /** The entry under `key`, or `undefined` when there is none, it expired or the store failed. */
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores `entry` under `key` for `ttlMs` milliseconds, replacing what was there. */
  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  /** Removes the entry under `key`, if any. */
  delete(key: string): Promise<void>;
  /** Releases what the store owns (not a Redis client the caller passed in). */
  close(): Promise<void>;
}
