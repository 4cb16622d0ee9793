export type { BreakerEvent, BreakerEventType } from "./breaker/breaker-event.js";
export type { BreakerPermit } from "./breaker/breaker-permit.js";
export { BreakerState } from "./breaker/breaker-state.js";
export { CircuitBreaker, circuitBreaker } from "./breaker/circuit-breaker.js";
export { type CircuitBreakerJSON, parseCircuitBreakerJSON } from "./breaker/circuit-breaker-json.js";
export {
  type CircuitBreakerOptions,
  circuitBreakerDefaults,
  parseCircuitBreakerOptions,
  type ResolvedCircuitBreakerOptions,
} from "./breaker/circuit-breaker-options.js";
export type { CircuitBreakerSnapshot } from "./breaker/circuit-breaker-snapshot.js";
export {
  type CountWindowJSON,
  type SlidingWindowJSON,
  SlidingWindowType,
  type TimeWindowJSON,
} from "./breaker/sliding-window.js";
export { Bulkhead, type BulkheadSnapshot, bulkhead } from "./bulkhead/bulkhead.js";
export type {
  BulkheadCallFinishedEvent,
  BulkheadCallPermittedEvent,
  BulkheadCallRejectedEvent,
  BulkheadEvent,
} from "./bulkhead/bulkhead-event.js";
export {
  type BulkheadOptions,
  parseBulkheadOptions,
  type ResolvedBulkheadOptions,
} from "./bulkhead/bulkhead-options.js";
export {
  KeyedBulkhead,
  type KeyedBulkheadOptions,
  type KeyedBulkheadSnapshot,
  keyedBulkhead,
} from "./bulkhead/keyed-bulkhead.js";
export { type Clock, systemClock, type TimerHandle } from "./clock.js";
export { ConfigReader, type NumberRule } from "./config/config-reader.js";
export type { PolicyKind, PolicyOf } from "./config/policy-kinds.js";
export {
  type PolicyKindConfig,
  pipelineOrder,
  type RegistryEvent,
  type RegistryOptions,
  type ResilienceConfig,
  ResilienceRegistry,
  resilienceRegistry,
} from "./config/resilience-registry.js";
export { Deadline } from "./deadline.js";
export { type Duration, parseDuration } from "./duration.js";
export * from "./errors.js";
export { EventStream, type Unsubscribe } from "./event-stream.js";
export { Fallback, type FallbackResult, type FallbackSnapshot, fallback } from "./fallback/fallback.js";
export type { FallbackEvent, FallbackStrategy } from "./fallback/fallback-event.js";
export {
  type FallbackOptions,
  type LaterOptions,
  parseFallbackOptions,
  parseStaleCacheOptions,
  type ResolvedFallbackOptions,
  type ResolvedStaleCacheOptions,
} from "./fallback/fallback-options.js";
export { isPending, type LaterQueue, type PendingMarker } from "./fallback/pending.js";
export { StaleCache, type StaleCacheHit, type StaleCacheOptions } from "./fallback/stale-cache.js";
export { Hedging, type HedgingSnapshot, hedging } from "./hedging/hedging.js";
export type { HedgingEvent } from "./hedging/hedging-event.js";
export {
  type HedgingDelay,
  type HedgingOptions,
  parseHedgingOptions,
  type ResolvedHedgingOptions,
} from "./hedging/hedging-options.js";
export { Pipeline, pipeline } from "./pipeline.js";
export { emptyContext, type Operation, type Policy, type PolicyContext } from "./policy-context.js";
export { type GcraResult, type GcraRule, gcraDecide, gcraRule } from "./rate-limiter/gcra.js";
export {
  defaultRateLimitKey,
  GcraLimiter,
  type GcraLimiterSnapshot,
  gcraLimiter,
} from "./rate-limiter/gcra-limiter.js";
export {
  type GcraLimiterOptions,
  parseGcraLimiterOptions,
  type ResolvedGcraLimiterOptions,
} from "./rate-limiter/gcra-limiter-options.js";
export {
  MemoryRateLimitStore,
  type MemoryRateLimitStoreOptions,
  memoryRateLimitStore,
} from "./rate-limiter/memory-rate-limit-store.js";
export type { RateDecision, RateLimitStore } from "./rate-limiter/rate-limit-store.js";
export { RateLimiter, type RateLimiterSnapshot, rateLimiter } from "./rate-limiter/rate-limiter.js";
export type { GcraLimiterEvent, RateLimiterEvent } from "./rate-limiter/rate-limiter-event.js";
export {
  parseRateLimiterOptions,
  type RateLimiterOptions,
  type ResolvedRateLimiterOptions,
} from "./rate-limiter/rate-limiter-options.js";
export type { Backoff, RandomSource } from "./retry/backoff/backoff.js";
export { type ConstantBackoffOptions, constantBackoff } from "./retry/backoff/constant-backoff.js";
export {
  type DecorrelatedJitterBackoffOptions,
  decorrelatedJitterBackoff,
} from "./retry/backoff/decorrelated-jitter-backoff.js";
export { type ExponentialBackoffOptions, exponentialBackoff } from "./retry/backoff/exponential-backoff.js";
export { type FullJitterBackoffOptions, fullJitterBackoff } from "./retry/backoff/full-jitter-backoff.js";
export { type LinearBackoffOptions, linearBackoff } from "./retry/backoff/linear-backoff.js";
export {
  connectPhaseNetworkCodes,
  defaultRetryableNetworkCodes,
  type HttpRetryClassifier,
  type HttpRetryClassifierOptions,
  httpRetryClassifier,
  isRetryableHttp,
} from "./retry/http-retry-classifier.js";
export { Retry, type RetrySnapshot, retry } from "./retry/retry.js";
export { type HeadersLike, parseRetryAfter, retryAfterFrom } from "./retry/retry-after.js";
export {
  parseRetryBudgetOptions,
  RetryBudget,
  type RetryBudgetOptions,
  type RetryBudgetSnapshot,
  retryBudget,
} from "./retry/retry-budget.js";
export type {
  RetryAttemptEvent,
  RetryEvent,
  RetryGiveUpEvent,
  RetryGiveUpReason,
  RetrySuccessEvent,
} from "./retry/retry-event.js";
export {
  type BackoffConfig,
  defaultRetryOn,
  parseRetryOptions,
  type ResolvedRetryOptions,
  type RetryOptions,
  type RetryPredicate,
  type RetryResultPredicate,
  retryDefaults,
} from "./retry/retry-options.js";
export { sleep } from "./sleep.js";
export { Timeout, type TimeoutSnapshot, timeout } from "./timeout/timeout.js";
export type {
  TimeoutAbortedEvent,
  TimeoutElapsedEvent,
  TimeoutErrorEvent,
  TimeoutEvent,
  TimeoutSuccessEvent,
} from "./timeout/timeout-event.js";
export {
  parseTimeoutOptions,
  type ResolvedTimeoutOptions,
  type TimeoutOptions,
  type TimeoutStrategy,
} from "./timeout/timeout-options.js";
