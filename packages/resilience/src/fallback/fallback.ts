import type { Clock } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import type { FallbackEvent, FallbackStrategy } from "./fallback-event.js";
import {
  type FallbackOptions,
  parseFallbackOptions,
  type ResolvedFallbackOptions,
} from "./fallback-options.js";
import { type PendingMarker, pendingMarker } from "./pending.js";
import { StaleCache } from "./stale-cache.js";

/** Counters of a {@link Fallback}, as plain numbers for metrics. */
export interface FallbackSnapshot {
  /** Operations run (a call rejected before it started because its signal was already aborted is not one). */
  readonly calls: number;
  /** Operations that succeeded without help. */
  readonly successes: number;
  /** Calls answered by each strategy. */
  readonly fallbacks: Readonly<Record<FallbackStrategy, number>>;
  /** Failures to handle for which no strategy produced a result. */
  readonly failures: number;
  /** Errors that `handle` declined, rethrown untouched. */
  readonly unhandled: number;
  /** Calls whose own signal aborted; never counted as failures. */
  readonly cancelled: number;
}

type Settled<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

/**
 * What a fallback built from options `O` may return instead of the operation's own result: the
 * type of `value`, what `handler` or `alternative` resolve to, and {@link PendingMarker} when
 * `later` is on. The stale cache adds nothing: it returns earlier results of the same operation.
 */
export type FallbackResult<O extends FallbackOptions> =
  | ("value" extends keyof O ? O["value"] : never)
  | ("handler" extends keyof O ? Settled<O["handler"]> : never)
  | ("alternative" extends keyof O ? Settled<O["alternative"]> : never)
  | ("later" extends keyof O ? (O["later"] extends undefined ? never : PendingMarker) : never);

/**
 * Answers for a failed operation with the best substitute it has. The strategies, tried in this
 * order until one produces a result:
 *
 * 1. `staleCache`: the last successful result for `ctx.key` (calls without a key share one
 *    entry), if younger than `ttl`;
 * 2. `handler(error, ctx)` or `alternative(ctx, error)`: a computed result or another operation;
 * 3. `later`: the job goes to a queue and the call returns a {@link PendingMarker};
 * 4. `value`: a constant.
 *
 * When no strategy produces a result, the original error is rethrown, unless a strategy itself
 * failed (the alternative threw, the queue refused the job): then an `AggregateError` is thrown
 * whose `errors` are the original error followed by each strategy's error, and whose `cause` is
 * the original error. The caller's error objects are never modified. A value rejected by
 * `handleResult` that nothing replaces is returned as it was.
 *
 * A call whose own `ctx.signal` aborts rejects with the signal's reason and is not a failure.
 * The success path costs one `.then` (plus the stale-cache write when that strategy is on).
 *
 * `R` is what the fallback may return instead of the operation's result; {@link fallback}
 * infers it from the options, `new Fallback(...)` leaves it `never` unless given.
 */
export class Fallback<R = never> implements Policy {
  /** The name in events and errors. */
  readonly name: string;
  /** Success, fallback and failure events. */
  readonly events = new EventStream<FallbackEvent>();
  /** The stale cache when that strategy is on: to inspect it, or to drop a key a write made wrong. */
  readonly staleCache: StaleCache | undefined;
  readonly #options: ResolvedFallbackOptions;
  readonly #clock: Clock;
  // The success callback when it needs nothing of the call's context (no stale cache, no handleResult).
  readonly #onSuccess: ((value: unknown) => unknown) | undefined;
  #calls = 0;
  #successes = 0;
  #failures = 0;
  #unhandled = 0;
  #cancelled = 0;
  readonly #fallbacks: Record<FallbackStrategy, number> = {
    staleCache: 0,
    handler: 0,
    alternative: 0,
    later: 0,
    value: 0,
  };

  /** Throws a `ConfigError` listing every bad option. */
  constructor(options: FallbackOptions) {
    const reader = new ConfigReader();
    const resolved = parseFallbackOptions(options, reader, "");
    reader.throwIfInvalid();
    this.#options = resolved;
    this.name = resolved.name;
    this.#clock = resolved.clock;
    this.staleCache =
      resolved.staleCache === undefined ? undefined : new StaleCache(resolved.staleCache, resolved.clock);
    this.#onSuccess =
      this.staleCache === undefined && resolved.handleResult === undefined
        ? (value) => this.#succeeded(value, emptyContext)
        : undefined;
  }

  /**
   * Runs `operation`; on a failure to handle, answers with the first strategy that produces a
   * result. The promise holds the operation's result or a substitute of type `R`.
   */
  execute<T>(operation: Operation<T>, context?: PolicyContext): Promise<T | R>;
  /**
   * The signature that makes a fallback usable wherever a {@link Policy} is expected (a
   * pipeline). A direct call always resolves to the one above and sees `T | R`.
   */
  execute<T>(operation: Operation<T>, context?: PolicyContext): Promise<T>;
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T | R> {
    const signal = context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#calls++;
    let result: T | PromiseLike<T>;
    try {
      result = operation(context);
    } catch (error) {
      return this.#recover(error, false, context) as Promise<T | R>;
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        this.#onSuccess ?? ((value) => this.#succeeded(value, context)),
        (error: unknown) => this.#recover(error, false, context),
      ) as Promise<T | R>;
    }
    try {
      return Promise.resolve(this.#succeeded(result, context)) as Promise<T | R>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The counters since construction. */
  snapshot(): FallbackSnapshot {
    return {
      calls: this.#calls,
      successes: this.#successes,
      fallbacks: { ...this.#fallbacks },
      failures: this.#failures,
      unhandled: this.#unhandled,
      cancelled: this.#cancelled,
    };
  }

  #succeeded(value: unknown, context: PolicyContext): unknown {
    const handleResult = this.#options.handleResult;
    if (handleResult?.(value)) return this.#recover(value, true, context);
    this.staleCache?.set(context.key, value);
    this.#successes++;
    if (this.events.active) this.events.emit({ type: "success", name: this.name });
    return value;
  }

  async #recover(failure: unknown, isResult: boolean, context: PolicyContext): Promise<unknown> {
    const signal = context.signal;
    if (signal?.aborted) {
      this.#cancelled++;
      throw signal.reason;
    }
    const options = this.#options;
    if (!isResult && options.handle !== undefined && !options.handle(failure)) {
      this.#unhandled++;
      throw failure;
    }
    const hit = this.staleCache?.lookup(context.key);
    if (hit !== undefined) {
      this.#fallbacks.staleCache++;
      if (this.events.active) {
        this.events.emit({
          type: "fallback",
          name: this.name,
          strategy: "staleCache",
          error: failure,
          ageMs: hit.ageMs,
        });
      }
      return hit.value;
    }
    const errors: unknown[] = [failure];
    const failed: FallbackStrategy[] = [];
    const { handler, alternative } = options;
    if (handler !== undefined || alternative !== undefined) {
      const strategy = handler !== undefined ? "handler" : "alternative";
      try {
        const value = await (handler !== undefined
          ? handler(failure, context)
          : alternative!(context, failure));
        this.#fallbacks[strategy]++;
        if (this.events.active)
          this.events.emit({ type: "fallback", name: this.name, strategy, error: failure });
        return value;
      } catch (error) {
        if (signal?.aborted) {
          this.#cancelled++;
          throw signal.reason;
        }
        errors.push(error);
        failed.push(strategy);
      }
    }
    const later = options.later;
    if (later !== undefined) {
      try {
        const id = await later.queue.enqueue(later.job(context, failure));
        this.#fallbacks.later++;
        if (this.events.active) {
          this.events.emit({ type: "fallback", name: this.name, strategy: "later", error: failure, id });
        }
        return pendingMarker(id, this.#clock.now());
      } catch (error) {
        errors.push(error);
        failed.push("later");
      }
    }
    if (options.hasValue) {
      this.#fallbacks.value++;
      if (this.events.active) {
        this.events.emit({ type: "fallback", name: this.name, strategy: "value", error: failure });
      }
      return options.value;
    }
    this.#failures++;
    if (failed.length > 0) {
      const error = new AggregateError(
        errors,
        `fallback "${this.name}": the operation failed and so did its fallback (${failed.join(", ")})`,
        { cause: failure },
      );
      if (this.events.active) this.events.emit({ type: "failure", name: this.name, error });
      throw error;
    }
    if (this.events.active) this.events.emit({ type: "failure", name: this.name, error: failure });
    if (isResult) return failure;
    throw failure;
  }
}

/**
 * Builds a {@link Fallback} whose result type includes what its strategies may return. Throws a
 * `ConfigError` for bad options.
 *
 * @example
 * ```ts
 * const recommendations = fallback({ staleCache: { ttl: "5m" }, value: [] });
 * const items = await recommendations.execute(() => fetchRecommendations(user), { key: user });
 *
 * const orders = fallback({ later: { queue: outbox, job: (ctx, error) => ({ type: "place-order", order }) } });
 * const placed = await orders.execute(() => placeOrder(order)); // Order | PendingMarker
 * if (isPending(placed)) return reply.code(202).send({ id: placed.id });
 * ```
 */
export function fallback<O extends FallbackOptions>(options: O): Fallback<FallbackResult<O>> {
  return new Fallback<FallbackResult<O>>(options);
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === "function";
}
