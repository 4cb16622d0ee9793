import { type Clock, gcraDecide, systemClock } from "@flotilla/resilience";
import { z } from "zod";
import { parseOptions } from "./parse-options.js";
import type { RateLimitBackend, RateLimitDecision } from "./rate-limit-backend.js";
import type { RateLimitRule } from "./rate-limit-rule.js";
import { tokenBucketDecide } from "./token-bucket.js";

/** The memory backend in configuration (zod 4): `maxKeys`, the most keys held at once (default 100 000). */
export const memoryRateLimitBackendConfigSchema = z
  .object({ maxKeys: z.number().int().min(1).default(100_000) })
  .strict();

/** Options of {@link memoryRateLimitBackend}: the configuration plus a clock (tests pass a `FakeClock`). */
export type MemoryRateLimitBackendOptions = z.input<typeof memoryRateLimitBackendConfigSchema> & {
  readonly clock?: Clock;
};

const gcraKind = 0;
const bucketKind = 1;

/** Live entries looked past, when the backend is full, in search of an expired one to drop instead. */
const lookahead = 16;

/** One key's state, updated in place so that a known key allocates nothing. */
class Entry {
  /** {@link gcraKind} or {@link bucketKind}; state of the other algorithm counts as unknown. */
  kind: number;
  /** GCRA: the TAT. Token bucket: the tokens left. */
  a: number;
  /** Token bucket: when `a` was stored. */
  b: number;
  /** When the key's bucket is full again: from then on it is as good as unknown. */
  expiresAt: number;

  constructor(kind: number, a: number, b: number, expiresAt: number) {
    this.kind = kind;
    this.a = a;
    this.b = b;
    this.expiresAt = expiresAt;
  }
}

/**
 * An in-process {@link RateLimitBackend}: a `Map` of key → state that answers synchronously, so
 * the rate limit layer allocates no promise. Good for one gateway instance; use
 * `redisRateLimitBackend` when several instances must share one limit.
 *
 * Bounded without timers: every write moves its key to the end of the map, so the map runs from
 * the least to the most recently written key. An entry whose bucket is full again is expired (as
 * good as unknown) and is dropped lazily from the old end whenever a new key arrives. When
 * `maxKeys` live entries are held, expired entries among the oldest go first, then the least
 * recently written key — whose client thereby gets a full bucket back, the price of bounded memory.
 */
export class MemoryRateLimitBackend implements RateLimitBackend {
  /** The most keys held at once. */
  readonly maxKeys: number;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  #newest: string | undefined;

  /** Validates `options`; throws a `GatewayError` `FLT_GATEWAY_CONFIG_INVALID` for a bad `maxKeys`. */
  constructor(options: MemoryRateLimitBackendOptions = {}) {
    const { clock, ...config } = options;
    this.maxKeys = parseOptions(
      memoryRateLimitBackendConfigSchema,
      config,
      "memory rate limit backend",
    ).maxKeys;
    this.#clock = clock ?? systemClock;
  }

  /** Keys currently held, expired ones not yet dropped included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Decides on the clock's `now()` and stores the new state when allowed. Never returns a promise. */
  take(key: string, rule: RateLimitRule, permits = 1): RateLimitDecision {
    const now = this.#clock.now();
    const entry = this.#entries.get(key);
    let decision: RateLimitDecision;
    let a: number;
    let b = 0;
    let expiresAt: number;
    if (rule.algorithm === "gcra") {
      const live = entry !== undefined && entry.kind === gcraKind && entry.expiresAt > now;
      const result = gcraDecide(live ? entry.a : undefined, rule.gcra, permits, now);
      decision = result.decision;
      if (!decision.allowed) return decision;
      a = result.newTat ?? now;
      expiresAt = a;
    } else {
      const live = entry !== undefined && entry.kind === bucketKind && entry.expiresAt > now;
      const result = tokenBucketDecide(
        live ? entry.a : undefined,
        live ? entry.b : undefined,
        rule,
        permits,
        now,
      );
      decision = result.decision;
      if (!decision.allowed) return decision;
      a = result.tokens ?? rule.burst;
      b = now;
      expiresAt = now + decision.resetAfterMs;
    }
    this.#store(key, entry, rule.algorithm === "gcra" ? gcraKind : bucketKind, a, b, expiresAt, now);
    return decision;
  }

  /** Forgets every key. */
  clear(): void {
    this.#entries.clear();
    this.#newest = undefined;
  }

  /** Forgets every key; the backend stays usable. */
  async close(): Promise<void> {
    this.clear();
  }

  #store(
    key: string,
    entry: Entry | undefined,
    kind: number,
    a: number,
    b: number,
    expiresAt: number,
    now: number,
  ): void {
    const entries = this.#entries;
    if (expiresAt <= now) {
      if (entry !== undefined) {
        entries.delete(key);
        if (key === this.#newest) this.#newest = undefined;
      }
      return;
    }
    if (entry === undefined) {
      this.#makeRoom(now);
      entries.set(key, new Entry(kind, a, b, expiresAt));
    } else {
      entry.kind = kind;
      entry.a = a;
      entry.b = b;
      entry.expiresAt = expiresAt;
      // Already the newest entry: an update in place keeps the write order without a delete.
      if (key !== this.#newest) {
        entries.delete(key);
        entries.set(key, entry);
      }
    }
    this.#newest = key;
  }

  #makeRoom(now: number): void {
    const entries = this.#entries;
    let oldestLive: string | undefined;
    let looked = 0;
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= now) {
        entries.delete(key);
        continue;
      }
      if (entries.size < this.maxKeys || ++looked > lookahead) break;
      oldestLive ??= key;
    }
    if (entries.size >= this.maxKeys && oldestLive !== undefined) {
      entries.delete(oldestLive);
      if (oldestLive === this.#newest) this.#newest = undefined;
    }
  }
}

/** Creates a {@link MemoryRateLimitBackend}. */
export function memoryRateLimitBackend(options?: MemoryRateLimitBackendOptions): MemoryRateLimitBackend {
  return new MemoryRateLimitBackend(options);
}
