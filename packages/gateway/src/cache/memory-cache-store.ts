import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { type CacheClock, wallClock } from "./cache-clock.js";
import type { CacheEntry } from "./cache-entry.js";
import type { CacheStore } from "./cache-store.js";

/** Options of {@link memoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /** Most entries kept (default 10,000); the least recently used go first. */
  readonly maxEntries?: number;
  /** Most bytes kept, bodies and headers counted (default 64 MiB); the least recently used go first. */
  readonly maxBytes?: number;
  /** Time source for expiry (default {@link wallClock}); pass the cache layer's clock. */
  readonly clock?: CacheClock;
}

interface Slot {
  readonly entry: CacheEntry;
  readonly expiresAt: number;
  readonly size: number;
}

// A rough per-entry cost of the Map slot, the objects and the key, so that many tiny entries
// still count against maxBytes.
const entryOverhead = 160;

/**
 * A process-local {@link CacheStore}: an LRU bounded by entry count and by bytes. Entries are
 * kept as objects (no copy), so a hit's body is the stored `Buffer`: callers must not change it.
 *
 * ```ts
 * const store = memoryCacheStore({ maxEntries: 5_000, maxBytes: 32 * 1024 * 1024 });
 * ```
 */
export function memoryCacheStore(options: MemoryCacheStoreOptions = {}): MemoryCacheStore {
  return new MemoryCacheStore(options);
}

/** See {@link memoryCacheStore}. */
export class MemoryCacheStore implements CacheStore {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #clock: CacheClock;
  // Map iteration order is insertion order: the first key is the least recently used.
  readonly #slots = new Map<string, Slot>();
  #bytes = 0;

  constructor(options: MemoryCacheStoreOptions = {}) {
    this.#maxEntries = positive(options.maxEntries ?? 10_000, "maxEntries");
    this.#maxBytes = positive(options.maxBytes ?? 64 * 1024 * 1024, "maxBytes");
    this.#clock = options.clock ?? wallClock;
  }

  /** Entries held now (expired ones not yet looked at included). */
  get size(): number {
    return this.#slots.size;
  }

  /** Bytes held now, as counted against `maxBytes`. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): Promise<CacheEntry | undefined> {
    const slot = this.#slots.get(key);
    if (slot === undefined) return Promise.resolve(undefined);
    this.#slots.delete(key);
    if (slot.expiresAt <= this.#clock.now()) {
      this.#bytes -= slot.size;
      return Promise.resolve(undefined);
    }
    this.#slots.set(key, slot);
    return Promise.resolve(slot.entry);
  }

  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    this.#remove(key);
    const size = sizeOf(key, entry);
    if (ttlMs <= 0 || size > this.#maxBytes) return Promise.resolve();
    this.#slots.set(key, { entry, expiresAt: this.#clock.now() + ttlMs, size });
    this.#bytes += size;
    while (this.#slots.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#slots.keys().next();
      if (oldest.done === true) break;
      this.#remove(oldest.value);
    }
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    this.#remove(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#slots.clear();
    this.#bytes = 0;
    return Promise.resolve();
  }

  #remove(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#bytes -= slot.size;
  }
}

function sizeOf(key: string, entry: CacheEntry): number {
  let size = entryOverhead + key.length;
  if (entry.kind === "vary") {
    for (const name of entry.names) size += name.length;
    return size;
  }
  size += entry.body.length;
  for (const name in entry.headers) {
    const value = entry.headers[name] as string | readonly string[];
    if (typeof value === "string") size += name.length + value.length;
    else for (const item of value) size += name.length + item.length;
  }
  return size;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new GatewayError(
      GatewayErrorCode.ConfigInvalid,
      `memoryCacheStore: ${name} must be a positive whole number, got ${value}`,
    );
  }
  return value;
}
