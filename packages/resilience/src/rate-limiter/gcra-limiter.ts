import type { Clock } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import { RateLimitedError } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import { type GcraRule, gcraRule } from "./gcra.js";
import { type GcraLimiterOptions, parseGcraLimiterOptions } from "./gcra-limiter-options.js";
import { MemoryRateLimitStore } from "./memory-rate-limit-store.js";
import type { RateDecision, RateLimitStore } from "./rate-limit-store.js";
import type { GcraLimiterEvent } from "./rate-limiter-event.js";

/** The key {@link GcraLimiter.execute} uses when the context carries none: one limit shared by all calls. */
export const defaultRateLimitKey = "default";

/** Numbers for metrics. */
export interface GcraLimiterSnapshot {
  /** Requests allowed since the limiter was created. */
  readonly allowed: number;
  /** Requests refused since the limiter was created. */
  readonly rejected: number;
  /** Permits an idle key gets at once (`burst + 1`). */
  readonly limit: number;
  /** Milliseconds between permits at the sustained rate. */
  readonly emissionIntervalMs: number;
}

/**
 * A keyed rate limiter using the generic cell rate algorithm, as redis-cell and throttled do: a
 * token bucket per key holding `burst + 1` permits and refilled at `rate` per `period`, kept as one
 * number per key (its theoretical arrival time) in a {@link RateLimitStore}. Refused requests
 * consume nothing and are told exactly when to retry.
 *
 * With the default {@link MemoryRateLimitStore}, {@link GcraLimiter.acquire} returns the decision
 * itself, with no promise; with a remote store it returns the store's promise.
 *
 * ```ts
 * const limiter = gcraLimiter({ rate: 100, period: "1s", burst: 20 });
 * const decision = limiter.acquire(clientIp);
 * if (!decision.allowed) reply.header("retry-after", Math.ceil(decision.retryAfterMs / 1000)).code(429);
 * ```
 */
export class GcraLimiter implements Policy {
  /** Appears in errors and events. */
  readonly name: string;
  /** `successfulAcquire` and `failedAcquire` events, one per decision. */
  readonly events = new EventStream<GcraLimiterEvent>();
  /** The rule handed to the store; also what a `RateLimit-Policy` header describes. */
  readonly rule: GcraRule;
  /** Where the keys' state lives. */
  readonly store: RateLimitStore;
  readonly #clock: Clock;
  #allowed = 0;
  #rejected = 0;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: GcraLimiterOptions) {
    const reader = new ConfigReader();
    const resolved = parseGcraLimiterOptions(options, reader, "");
    reader.throwIfInvalid();
    this.name = resolved.name;
    this.rule = gcraRule(resolved.rate, resolved.periodMs, resolved.burst);
    this.store = resolved.store ?? new MemoryRateLimitStore();
    this.#clock = resolved.clock;
  }

  /**
   * Asks for `permits` (a whole number, 0 to peek without taking) on behalf of `key`. Returns the
   * decision directly when the store answers synchronously, otherwise a promise of it. Errors of
   * the store (a Redis outage) are not caught here.
   */
  acquire(key: string, permits = 1): RateDecision | Promise<RateDecision> {
    if (!(Number.isInteger(permits) && permits >= 0)) {
      throw new RangeError(`permits must be a whole number of at least 0, got ${permits}`);
    }
    const decision = this.store.acquire(key, this.rule, permits, this.#clock.now());
    if (isThenable(decision)) {
      return Promise.resolve(decision).then((settled) => this.#record(key, permits, settled));
    }
    return this.#record(key, permits, decision);
  }

  /**
   * Runs `operation` if one permit for `context.key` (or {@link defaultRateLimitKey}) is granted,
   * otherwise rejects with {@link RateLimitedError} carrying `retryAfterMs`, without calling it.
   * An already aborted signal rejects with its reason and takes nothing. With an asynchronous
   * store, a signal that aborts while the store answers rejects too, but the permit stays taken.
   */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    const signal = context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let decision: RateDecision | Promise<RateDecision>;
    try {
      decision = this.acquire(context.key ?? defaultRateLimitKey, 1);
    } catch (error) {
      return Promise.reject(error);
    }
    if (decision instanceof Promise) {
      return decision.then((settled: RateDecision) => {
        if (signal?.aborted) throw signal.reason;
        return this.#run(settled, operation, context);
      });
    }
    return this.#run(decision, operation, context);
  }

  /** Current numbers for metrics. */
  snapshot(): GcraLimiterSnapshot {
    return {
      allowed: this.#allowed,
      rejected: this.#rejected,
      limit: this.rule.limit,
      emissionIntervalMs: this.rule.emissionIntervalMs,
    };
  }

  #run<T>(decision: RateDecision, operation: Operation<T>, context: PolicyContext): Promise<T> {
    if (!decision.allowed) return Promise.reject(new RateLimitedError(this.name, decision.retryAfterMs));
    try {
      return Promise.resolve(operation(context)) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #record(key: string, permits: number, decision: RateDecision): RateDecision {
    if (decision.allowed) {
      this.#allowed++;
      if (this.events.active) {
        this.events.emit({
          type: "successfulAcquire",
          name: this.name,
          key,
          permits,
          remaining: decision.remaining,
        });
      }
    } else {
      this.#rejected++;
      if (this.events.active) {
        this.events.emit({
          type: "failedAcquire",
          name: this.name,
          key,
          permits,
          retryAfterMs: decision.retryAfterMs,
        });
      }
    }
    return decision;
  }
}

/** Creates a {@link GcraLimiter}: `gcraLimiter({ rate: 100, period: "1s", burst: 20 })`. */
export function gcraLimiter(options: GcraLimiterOptions): GcraLimiter {
  return new GcraLimiter(options);
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
