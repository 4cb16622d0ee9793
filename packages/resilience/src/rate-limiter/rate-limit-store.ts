import type { GcraRule } from "./gcra.js";

/**
 * The answer of a GCRA rate limiter to one request: whether it may proceed, and everything a
 * gateway needs for the `RateLimit` / `RateLimit-Policy` and `Retry-After` headers.
 */
export interface RateDecision {
  /** True when the request conforms and its permits were taken. */
  readonly allowed: boolean;
  /** Single permits that would be allowed right now after this decision; never negative. */
  readonly remaining: number;
  /**
   * Milliseconds until this request (with the same number of permits) would be allowed: 0 when
   * allowed, `Infinity` when it asks for more permits than {@link RateDecision.limit} and never can be.
   */
  readonly retryAfterMs: number;
  /** Milliseconds until the bucket is full again (an idle key would get {@link RateDecision.limit} at once). */
  readonly resetAfterMs: number;
  /** The most permits an idle key gets at once: `burst + 1`. */
  readonly limit: number;
}

/**
 * Where a GCRA limiter keeps each key's theoretical arrival time (TAT). The whole decision —
 * read the TAT, run `gcraDecide`, write the new TAT when allowed — happens inside
 * {@link RateLimitStore.acquire} as one atomic step, so a Redis store can implement it as one Lua
 * script that mirrors `gcraDecide`. A store that answers synchronously returns the decision itself
 * (no promise is allocated on that path); a remote store returns a promise.
 */
export interface RateLimitStore {
  /**
   * Decides whether `permits` more for `key` conform to `rule` at time `now` (milliseconds on the
   * limiter's clock) and, when they do, records them. A refused request changes nothing.
   */
  acquire(key: string, rule: GcraRule, permits: number, now: number): RateDecision | Promise<RateDecision>;
}
