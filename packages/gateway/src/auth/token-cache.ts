import type { Identity } from "../chain/identity.js";

/** A verified token's identity and the window in which it stays valid. */
export interface VerifiedToken {
  readonly identity: Identity;
  /** The token's `exp` in seconds, or `undefined` when it has none. */
  readonly exp: number | undefined;
  /** The token's `nbf` in seconds, or `undefined` when it has none. */
  readonly nbf: number | undefined;
  /** Epoch milliseconds after which the entry is dropped whatever `exp` says (the key set's age limit). */
  readonly until: number;
}

interface Entry {
  readonly identity: Identity;
  /** Expired when the current second is at or after this (`exp` + skew). */
  readonly expiredAt: number;
  /** Not yet valid while the current second is before this (`nbf` − skew). */
  readonly validFrom: number;
  readonly until: number;
  /** {@link VerifiedTokenCache}'s insertion counter when the entry last moved to the newest end. */
  stamp: number;
}

/**
 * Verified tokens by token string, least recently used dropped first (approximately: a hit
 * refreshes an entry only once it is in the older half), after Envoy jwt_authn's
 * `jwt_cache_config`). Every hit checks `exp` and `nbf` again with the same arithmetic as
 * jose's `jwtVerify` (whole seconds, skew on both sides), so a cached token is refused the
 * moment a fresh verification would refuse it.
 */
export class VerifiedTokenCache {
  /** Largest number of entries. */
  readonly maxSize: number;
  readonly #skewSeconds: number;
  readonly #entries = new Map<string, Entry>();
  readonly #refreshDistance: number;
  #insertions = 0;

  constructor(maxSize: number, clockSkewMs: number) {
    this.maxSize = maxSize;
    this.#skewSeconds = clockSkewMs / 1000;
    this.#refreshDistance = Math.floor(maxSize / 2);
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The identity of a cached token still valid at `nowMs`; a stale entry is dropped. */
  get(token: string, nowMs: number): Identity | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    const nowSeconds = Math.floor(nowMs / 1000);
    if (nowSeconds >= entry.expiredAt || nowSeconds < entry.validFrom || nowMs >= entry.until) {
      this.#entries.delete(token);
      return undefined;
    }
    // Map order is insertion order, so the first entry is the eviction candidate. Moving an entry
    // to the end costs a delete and an insert; it is only done once the entry has drifted into
    // the older half (at least maxSize/2 insertions since its last move), which keeps hot tokens
    // safe from eviction at a fraction of the cost of moving on every hit.
    if (this.#insertions - entry.stamp >= this.#refreshDistance) {
      entry.stamp = ++this.#insertions;
      this.#entries.delete(token);
      this.#entries.set(token, entry);
    }
    return entry.identity;
  }

  /** Keeps a verified token, dropping the least recently used entry when full. */
  set(token: string, verified: VerifiedToken): void {
    if (this.maxSize === 0) return;
    // Deleting first keeps Map order and stamps in step when a token is stored again.
    if (!this.#entries.delete(token) && this.#entries.size >= this.maxSize) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, {
      identity: verified.identity,
      expiredAt: verified.exp === undefined ? Number.POSITIVE_INFINITY : verified.exp + this.#skewSeconds,
      validFrom: verified.nbf === undefined ? Number.NEGATIVE_INFINITY : verified.nbf - this.#skewSeconds,
      until: verified.until,
      stamp: ++this.#insertions,
    });
  }

  /** Drops every entry. */
  clear(): void {
    this.#entries.clear();
  }
}
