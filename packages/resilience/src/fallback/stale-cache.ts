import { type Clock, systemClock } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import type { Duration } from "../duration.js";
import { parseStaleCacheOptions } from "./fallback-options.js";

/** Options of {@link StaleCache} and of a fallback's `staleCache` strategy. */
export interface StaleCacheOptions {
  /** How long a stored result may still be served; an entry this old or older is gone. Above 0. */
  readonly ttl: Duration;
  /** At most this many keys are kept; writing a new key beyond it evicts the least recently written. Default 1000. */
  readonly maxEntries?: number;
}

/** A result found by {@link StaleCache.lookup}. */
export interface StaleCacheHit<V> {
  /** The stored result. */
  readonly value: V;
  /** How long ago it was stored, in milliseconds. */
  readonly ageMs: number;
}

// Marks "nothing written yet"; `undefined` cannot, because it is a key of its own.
const noKey: unique symbol = Symbol("no key");

interface Entry<V> {
  value: V;
  storedAt: number;
}

/**
 * The last successful result per key, kept for `ttl` on the clock, for at most `maxEntries` keys.
 *
 * Recency means the last successful write: a read does not make an entry any fresher, because
 * its use ends `ttl` after it was stored. So the `Map`'s insertion order is also the order of
 * expiry, eviction removes the entry that would expire first, expired entries always form a
 * prefix that writes of new keys drop, and every operation is O(1) (amortised for the drop).
 *
 * The key `undefined` is an entry of its own: a fallback stores calls without `ctx.key` there.
 */
export class StaleCache<V = unknown> {
  /** Time to live of an entry, in milliseconds. */
  readonly ttl: number;
  /** The most keys kept at once. */
  readonly maxEntries: number;
  readonly #clock: Clock;
  readonly #entries = new Map<string | undefined, Entry<V>>();
  // The key written last, which is already at the end of the Map and needs no move.
  #newest: string | undefined | typeof noKey = noKey;

  /** Throws a `ConfigError` for a missing or non-positive `ttl` or a bad `maxEntries`. */
  constructor(options: StaleCacheOptions, clock: Clock = systemClock) {
    const reader = new ConfigReader();
    const resolved = parseStaleCacheOptions(options, reader, "");
    reader.throwIfInvalid();
    this.ttl = resolved.ttl;
    this.maxEntries = resolved.maxEntries;
    this.#clock = clock;
  }

  /** The number of keys held, expired ones not yet dropped included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Stores `value` as the latest result for `key`, stamped with the clock's current time. */
  set(key: string | undefined, value: V): void {
    const now = this.#clock.now();
    const entries = this.#entries;
    const entry = entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.storedAt = now;
      if (key !== this.#newest) {
        entries.delete(key);
        entries.set(key, entry);
        this.#newest = key;
      }
      return;
    }
    this.#dropExpired(now);
    entries.set(key, { value, storedAt: now });
    this.#newest = key;
    if (entries.size > this.maxEntries) entries.delete(entries.keys().next().value);
  }

  /** The result stored for `key` with its age, or `undefined` when there is none younger than `ttl`. */
  lookup(key: string | undefined): StaleCacheHit<V> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const ageMs = this.#clock.now() - entry.storedAt;
    if (ageMs >= this.ttl) {
      this.#entries.delete(key);
      return undefined;
    }
    return { value: entry.value, ageMs };
  }

  /** Forgets `key` (for example after a write made its last result wrong); true if it was held. */
  delete(key: string | undefined): boolean {
    return this.#entries.delete(key);
  }

  /** Forgets every key. */
  clear(): void {
    this.#entries.clear();
    this.#newest = noKey;
  }

  #dropExpired(now: number): void {
    const oldest = now - this.ttl;
    for (const [key, entry] of this.#entries) {
      if (entry.storedAt > oldest) return;
      this.#entries.delete(key);
    }
  }
}
