import type { RateLimitRule } from "./rate-limit-rule.js";

/**
 * A backend's answer to one `take`: whether the request may proceed, and what the `RateLimit`
 * and `Retry-After` headers need.
 */
export interface RateLimitDecision {
  /** True when the permits were taken. */
  readonly allowed: boolean;
  /** The most permits an idle key gets at once (the rule's `burst`). */
  readonly limit: number;
  /** Single permits that would be allowed right now after this decision; never negative. */
  readonly remaining: number;
  /** Milliseconds until the key is full again (an idle key gets `limit` permits at once). */
  readonly resetAfterMs: number;
  /**
   * Milliseconds until the same request would be allowed: 0 when allowed, `Infinity` when it
   * asks for more permits than `limit` and never can be.
   */
  readonly retryAfterMs: number;
}

/**
 * Where rate limit state lives: in process (`memoryRateLimitBackend`) or shared by several
 * gateway instances (`redisRateLimitBackend`). Each `take` reads, decides and writes one key as a
 * single atomic step; a refused request consumes nothing.
 */
export interface RateLimitBackend {
  /**
   * Takes `permits` (default 1) for `key` under `rule`. A backend that can answer synchronously
   * returns the decision itself, so the hot path allocates no promise; callers handle both.
   * Throws (or rejects with) a `GatewayError` `FLT_GATEWAY_UNAVAILABLE` when the backend fails.
   */
  take(key: string, rule: RateLimitRule, permits?: number): RateLimitDecision | Promise<RateLimitDecision>;
  /** Releases what the backend holds; connections a caller passed in stay the caller's. */
  close(): Promise<void>;
}
