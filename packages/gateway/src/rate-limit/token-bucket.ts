import type { RateLimitDecision } from "./rate-limit-backend.js";
import type { RateLimitRule } from "./rate-limit-rule.js";

/** Tokens below which two amounts count as equal: absorbs rounding of `elapsed * refillPerMs`. */
export const tokenEpsilon = 1e-6;

/** The outcome of {@link tokenBucketDecide}. */
export interface TokenBucketResult {
  readonly decision: RateLimitDecision;
  /** When allowed, the tokens to store with `now`; when refused, `undefined` (nothing changes). */
  readonly tokens: number | undefined;
}

/**
 * The pure token bucket decision, refilled lazily. `tokens`/`at` are the key's stored level and
 * the time it was stored, or `undefined` for an unknown key (a full bucket).
 *
 * With `capacity = rule.burst` and `rate = rule.refillPerMs`, the level now is
 * `level = min(capacity, tokens + max(now - at, 0) * rate)`. The request is allowed when
 * `permits <= level + ε`; then `left = max(level - permits, 0)` is stored with `now`,
 * `remaining = floor(left + ε)` and `resetAfterMs = (capacity - left) / rate`. Refused,
 * `remaining = floor(level + ε)`, `resetAfterMs = (capacity - level) / rate` and
 * `retryAfterMs = (permits - level) / rate` (`Infinity` when `permits > capacity`). The Redis
 * script of `redisRateLimitBackend` mirrors this function line by line.
 */
export function tokenBucketDecide(
  tokens: number | undefined,
  at: number | undefined,
  rule: RateLimitRule,
  permits: number,
  now: number,
): TokenBucketResult {
  const capacity = rule.burst;
  const rate = rule.refillPerMs;
  let level = capacity;
  if (tokens !== undefined && at !== undefined) {
    const elapsed = now > at ? now - at : 0;
    level = Math.min(capacity, tokens + elapsed * rate);
  }
  if (permits <= level + tokenEpsilon) {
    const left = Math.max(level - permits, 0);
    return {
      decision: {
        allowed: true,
        limit: capacity,
        remaining: Math.floor(left + tokenEpsilon),
        resetAfterMs: (capacity - left) / rate,
        retryAfterMs: 0,
      },
      tokens: left,
    };
  }
  return {
    decision: {
      allowed: false,
      limit: capacity,
      remaining: Math.floor(level + tokenEpsilon),
      resetAfterMs: (capacity - level) / rate,
      retryAfterMs: permits > capacity ? Number.POSITIVE_INFINITY : (permits - level) / rate,
    },
    tokens: undefined,
  };
}
