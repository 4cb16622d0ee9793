import { CircuitBreaker } from "../breaker/circuit-breaker.js";
import { parseCircuitBreakerOptions } from "../breaker/circuit-breaker-options.js";
import { Bulkhead } from "../bulkhead/bulkhead.js";
import { parseBulkheadOptions } from "../bulkhead/bulkhead-options.js";
import { Fallback } from "../fallback/fallback.js";
import { parseFallbackOptions } from "../fallback/fallback-options.js";
import { Hedging } from "../hedging/hedging.js";
import { parseHedgingOptions } from "../hedging/hedging-options.js";
import type { Policy } from "../policy-context.js";
import { RateLimiter } from "../rate-limiter/rate-limiter.js";
import { parseRateLimiterOptions } from "../rate-limiter/rate-limiter-options.js";
import { Retry } from "../retry/retry.js";
import { parseRetryOptions } from "../retry/retry-options.js";
import { Timeout } from "../timeout/timeout.js";
import { parseTimeoutOptions } from "../timeout/timeout-options.js";
import type { ConfigReader } from "./config-reader.js";

interface PolicyKindEntry<P extends Policy> {
  /** Validates raw options, recording every problem in `reader` under `path`. */
  readonly parse: (raw: unknown, reader: ConfigReader, path: string) => unknown;
  /** Builds the policy from raw options that passed `parse`. */
  readonly create: (options: Record<string, unknown>) => P;
}

// The option objects were validated by `parse` before `create` sees them.
type AnyOptions = never;

/** Every kind of policy the configuration registry can build, by its configuration key. */
export const policyKinds = {
  circuitBreaker: {
    parse: parseCircuitBreakerOptions,
    create: (o) => new CircuitBreaker(o as AnyOptions),
  } satisfies PolicyKindEntry<CircuitBreaker>,
  retry: {
    parse: parseRetryOptions,
    create: (o) => new Retry(o as AnyOptions),
  } satisfies PolicyKindEntry<Retry>,
  timeout: {
    parse: parseTimeoutOptions,
    create: (o) => new Timeout(o as AnyOptions),
  } satisfies PolicyKindEntry<Timeout>,
  totalTimeout: {
    parse: parseTimeoutOptions,
    create: (o) => new Timeout(o as AnyOptions),
  } satisfies PolicyKindEntry<Timeout>,
  bulkhead: {
    parse: parseBulkheadOptions,
    create: (o) => new Bulkhead(o as AnyOptions),
  } satisfies PolicyKindEntry<Bulkhead>,
  rateLimiter: {
    parse: parseRateLimiterOptions,
    create: (o) => new RateLimiter(o as AnyOptions),
  } satisfies PolicyKindEntry<RateLimiter>,
  hedging: {
    parse: parseHedgingOptions,
    create: (o) => new Hedging(o as AnyOptions),
  } satisfies PolicyKindEntry<Hedging>,
  fallback: {
    parse: parseFallbackOptions,
    create: (o) => new Fallback<unknown>(o as AnyOptions),
  } satisfies PolicyKindEntry<Fallback<unknown>>,
};

/** A configuration key naming a kind of policy (`circuitBreaker`, `retry`, …). */
export type PolicyKind = keyof typeof policyKinds;

/** The policy class built for a kind. */
export type PolicyOf<K extends PolicyKind> = ReturnType<(typeof policyKinds)[K]["create"]>;
