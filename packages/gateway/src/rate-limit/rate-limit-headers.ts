import type { RateLimitDecision } from "./rate-limit-backend.js";
import type { RateLimitRule } from "./rate-limit-rule.js";

/**
 * The `RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-11
 * (https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/): Structured Field
 * Lists (RFC 9651) of Items whose value is the policy name as an sf-string.
 *
 * ```
 * RateLimit-Policy: "perip";q=100;w=60, "tenant";q=1000;w=3600
 * RateLimit: "perip";r=42;t=18, "tenant";r=998;t=8
 * ```
 */
export const rateLimitHeaderNames = Object.freeze({
  policy: "ratelimit-policy",
  limit: "ratelimit",
  retryAfter: "retry-after",
});

/**
 * Policy names that need no escaping inside an sf-string and stay readable in logs:
 * 1 to 64 of `A-Z a-z 0-9 . _ ~ -`, starting with a letter or digit.
 */
export const policyNamePattern = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$/;

/** Whole seconds of a window, at least 1 (`w` must be a non-zero integer, section 3.1.3). */
export function windowSeconds(rule: RateLimitRule): number {
  return Math.max(1, wholeSeconds(rule.periodMs));
}

/** One Quota Policy Item (section 3.1): `"name";q=<limit>;w=<period seconds>`. */
export function quotaPolicyItem(name: string, rule: RateLimitRule): string {
  return `"${name}";q=${rule.limit};w=${windowSeconds(rule)}`;
}

/**
 * One Service Limit Item (section 4.1) after `prefix` (`"name";r=`): the remaining quota and, as
 * `t`, the seconds until the bucket is full again — or, for a refused request, until it may
 * retry, so that `Retry-After` never names a time before the window's end (section 6).
 */
export function serviceLimitItem(
  prefix: string,
  decision: RateLimitDecision,
  fallbackSeconds: number,
): string {
  const t = decision.allowed
    ? wholeSeconds(decision.resetAfterMs)
    : retryAfterSeconds(decision.retryAfterMs, fallbackSeconds);
  return `${prefix}${decision.remaining};t=${t}`;
}

/** `Retry-After` in whole seconds, rounded up, at least 1; `fallbackSeconds` when never (`Infinity`). */
export function retryAfterSeconds(retryAfterMs: number, fallbackSeconds: number): number {
  if (!Number.isFinite(retryAfterMs)) return fallbackSeconds;
  return Math.max(1, wholeSeconds(retryAfterMs));
}

/** Seconds rounded up, ignoring the last bits of float noise (`1 / (10 / 3600000)` is 360 s, not 361). */
function wholeSeconds(ms: number): number {
  return Math.ceil(ms / 1000 - 1e-9);
}
