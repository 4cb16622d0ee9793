import type { ResponseHeaders } from "../chain/gateway-response.js";

/**
 * A stored response (RFC 9111 §3). Times are wall-clock milliseconds since the epoch, so that
 * gateways sharing a store agree on them.
 */
export interface CachedResponse {
  readonly kind: "response";
  readonly status: number;
  /** Lower-case names, hop-by-hop fields and `set-cookie` removed, `content-length` set. */
  readonly headers: ResponseHeaders;
  readonly body: Buffer;
  /** When the response was generated as far as known: the time it was stored minus its `Age`. */
  readonly storedAt: number;
  /** Fresh until this time (RFC 9111 §4.2). */
  readonly freshUntil: number;
  /** May be served stale when the upstream fails until this time (RFC 5861 §4); `>= freshUntil`. */
  readonly staleUntil: number;
}

/**
 * The record kept under a URL's key when its response varies (RFC 9111 §4.1): the request
 * header names whose values select the variant, stored under a key of their own.
 */
export interface VarySpec {
  readonly kind: "vary";
  /** Lower-case, sorted, without duplicates. */
  readonly names: readonly string[];
  /** Kept until this time: the latest `staleUntil` of the variants stored with it. */
  readonly until: number;
}

/** What a {@link CacheStore} holds under a key. */
export type CacheEntry = CachedResponse | VarySpec;
