import { ConfigReader } from "../config/config-reader.js";
import { type GcraRule, gcraDecide } from "./gcra.js";
import type { RateDecision, RateLimitStore } from "./rate-limit-store.js";

/** Options of {@link MemoryRateLimitStore}. */
export interface MemoryRateLimitStoreOptions {
  /** The most keys kept at once (default 100 000). */
  readonly maxKeys?: number;
}

/** Live entries looked past, when the store is full, in search of an expired one to drop instead. */
const lookahead = 16;

/**
 * An in-process {@link RateLimitStore}: a `Map` of key → TAT that answers synchronously, so a
 * limiter using it allocates no promise. Good for one process; use a shared store (Redis) when
 * several instances must share one limit.
 *
 * Bounded without timers: every write moves its key to the end of the map, so the map runs from
 * the least to the most recently written key. An entry whose TAT is at or before now is expired
 * (its bucket is full again, exactly as if the key were unknown) and is dropped lazily from the old
 * end whenever a new key arrives. When `maxKeys` live entries are held, expired entries among the
 * oldest ones go first, then the least recently written key — whose client thereby gets a full
 * bucket back, the price of bounded memory.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  /** The most keys kept at once. */
  readonly maxKeys: number;
  readonly #tats = new Map<string, number>();
  #newest: string | undefined;

  /** Validates `options`; throws a `ConfigError` when `maxKeys` is not a whole number of at least 1. */
  constructor(options: MemoryRateLimitStoreOptions = {}) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, ["maxKeys"], "");
    this.maxKeys = reader.number(obj, "maxKeys", "", 100_000, { integer: true, min: 1 });
    reader.throwIfInvalid();
  }

  /** Keys currently held, expired ones not yet dropped included. */
  get size(): number {
    return this.#tats.size;
  }

  /** Forgets every key. */
  clear(): void {
    this.#tats.clear();
    this.#newest = undefined;
  }

  /** Runs {@link gcraDecide} on the key's TAT and stores the new one when allowed. Never returns a promise. */
  acquire(key: string, rule: GcraRule, permits: number, now: number): RateDecision {
    const tats = this.#tats;
    const tat = tats.get(key);
    const { decision, newTat } = gcraDecide(tat, rule, permits, now);
    if (!decision.allowed) return decision;
    // Already the newest entry: an update in place keeps the write order without a delete.
    if (tat !== undefined && key !== this.#newest) tats.delete(key);
    if (newTat !== undefined && newTat > now) {
      if (tat === undefined) this.#makeRoom(now);
      tats.set(key, newTat);
      this.#newest = key;
    } else if (tat !== undefined) {
      tats.delete(key);
      if (key === this.#newest) this.#newest = undefined;
    }
    return decision;
  }

  #makeRoom(now: number): void {
    const tats = this.#tats;
    let oldestLive: string | undefined;
    let looked = 0;
    for (const [key, tat] of tats) {
      if (tat <= now) {
        tats.delete(key);
        continue;
      }
      if (tats.size < this.maxKeys || ++looked > lookahead) break;
      oldestLive ??= key;
    }
    if (tats.size >= this.maxKeys && oldestLive !== undefined) tats.delete(oldestLive);
  }
}

/** Creates a {@link MemoryRateLimitStore}. */
export function memoryRateLimitStore(options?: MemoryRateLimitStoreOptions): MemoryRateLimitStore {
  return new MemoryRateLimitStore(options);
}
