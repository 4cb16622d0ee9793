import type { Clock, TimerHandle } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import type { Deadline } from "../deadline.js";
import { ErrorCode, FlotillaError } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import type { HedgingEvent } from "./hedging-event.js";
import { type HedgingDelay, type HedgingOptions, parseHedgingOptions } from "./hedging-options.js";

/** Counters of a {@link Hedging} policy, as plain numbers for metrics. */
export interface HedgingSnapshot {
  /** Calls started (a call rejected before it started because its signal was already aborted is not one). */
  readonly calls: number;
  /** Attempts started beyond the first of each call. */
  readonly hedgedAttempts: number;
  /** Calls won by their first attempt. */
  readonly firstAttemptWins: number;
  /** Calls won by a hedged attempt: the latency hedging saved, or the failures it absorbed. */
  readonly hedgeWins: number;
  /** Calls that failed. */
  readonly failures: number;
  /** Calls aborted by the caller's signal; never counted as failures. */
  readonly cancelled: number;
}

/**
 * Hedged requests, as in Polly v8's hedging strategy and Envoy's hedging on per-try timeout:
 * attempt 1 starts; if it has not settled after `delay`, attempt 2 starts alongside it, and so on
 * up to `maxAttempts`. The first attempt to succeed wins.
 *
 * - Each attempt gets a context of its own: `attempt` is 1, 2, …, `deadline` and `key` are the
 *   caller's, and `signal` is the attempt's own, aborted when the caller's signal aborts (with
 *   the caller's reason) or when the attempt loses (with a `FlotillaError` of code
 *   `FLT_HEDGE_LOST`). The signal is created the first time the operation reads `ctx.signal`;
 *   an attempt that never reads it cannot be cancelled, only ignored. The signal is a getter on
 *   the context's prototype, so a policy nested inside that builds a new context must read
 *   `ctx.signal` by name: a spread (`{ ...ctx }`) does not copy it. Other fields of a caller's
 *   context are not carried over.
 * - An attempt that fails starts the next attempt at once, unless `shouldHedgeOn` says its error
 *   is not worth one: then the call fails at once with it and the other attempts are aborted.
 * - When every attempt has failed, the call rejects with the error of the last one to fail (the
 *   `error` events report each of them). The last error keeps its type, so an outer retry or
 *   fallback can still tell a timeout from a refusal.
 * - Outcomes of attempts after the call settled are ignored and never reported as unhandled.
 * - A caller's abort aborts every attempt and rejects with the signal's reason.
 *
 * The operation must be safe to run more than once at a time (idempotent). When attempt 1
 * settles before the delay, the call costs one timer set and cleared and no `AbortController`
 * unless the operation reads `ctx.signal`.
 */
export class Hedging implements Policy {
  /** The name in events and errors. */
  readonly name: string;
  /** Hedge, success, error and failure events. */
  readonly events: EventStream<HedgingEvent>;
  readonly #core: HedgingCore;

  /** Throws a `ConfigError` listing every bad option. */
  constructor(options: HedgingOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseHedgingOptions(options, reader, "");
    reader.throwIfInvalid();
    this.name = resolved.name;
    this.events = new EventStream<HedgingEvent>();
    this.#core = new HedgingCore(
      resolved.name,
      resolved.clock,
      resolved.delay,
      resolved.maxAttempts,
      resolved.shouldHedgeOn,
      this.events,
    );
  }

  /** Runs `operation`, hedging it with further attempts while it is slow or failing. */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    const signal = context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const core = this.#core;
    core.calls++;
    return new Promise<T>((resolve, reject) => {
      new HedgedCall<T>(core, operation, context, resolve, reject).start();
    });
  }

  /** The counters since construction. */
  snapshot(): HedgingSnapshot {
    const core = this.#core;
    return {
      calls: core.calls,
      hedgedAttempts: core.hedgedAttempts,
      firstAttemptWins: core.firstAttemptWins,
      hedgeWins: core.hedgeWins,
      failures: core.failures,
      cancelled: core.cancelled,
    };
  }
}

/**
 * Builds a {@link Hedging} policy. Throws a `ConfigError` for bad options.
 *
 * @example
 * ```ts
 * const hedged = hedging({ delay: "50ms", maxAttempts: 2 });
 * const page = await hedged.execute(({ signal }) => search(query, { signal }));
 * ```
 */
export function hedging(options: HedgingOptions = {}): Hedging {
  return new Hedging(options);
}

/** What every call of one policy shares: options, events and counters. */
class HedgingCore {
  calls = 0;
  hedgedAttempts = 0;
  firstAttemptWins = 0;
  hedgeWins = 0;
  failures = 0;
  cancelled = 0;

  constructor(
    readonly name: string,
    readonly clock: Clock,
    readonly delay: number | HedgingDelay,
    readonly maxAttempts: number,
    readonly shouldHedgeOn: ((error: unknown) => boolean) | undefined,
    readonly events: EventStream<HedgingEvent>,
  ) {}
}

/** The context handed to one attempt; its signal exists only once the operation reads it. */
class AttemptContext implements PolicyContext {
  readonly attempt: number;
  readonly deadline: Deadline | undefined;
  readonly key: string | undefined;
  /** True once this attempt's own outcome is known; a settled attempt is not aborted. */
  settled = false;
  readonly #call: HedgedCall<unknown>;
  #controller: AbortController | undefined;

  constructor(call: HedgedCall<unknown>, attempt: number, parent: PolicyContext) {
    this.#call = call;
    this.attempt = attempt;
    this.deadline = parent.deadline;
    this.key = parent.key;
  }

  get signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = new AbortController();
      this.#controller = controller;
      this.#call.track(this, controller);
    }
    return controller.signal;
  }

  /** Aborts the attempt's signal, if the operation ever read it. */
  abort(reason: unknown): void {
    this.#controller?.abort(reason);
  }
}

/** One call of {@link Hedging.execute}: its attempts, its timer and its outcome. */
class HedgedCall<T> {
  readonly #core: HedgingCore;
  readonly #operation: Operation<T>;
  readonly #parent: PolicyContext;
  readonly #resolve: (value: T) => void;
  readonly #reject: (reason: unknown) => void;
  #done = false;
  #started = 0;
  #running = 0;
  #timer: TimerHandle | undefined;
  // Only attempts whose operation read ctx.signal: the others have nothing to abort.
  #abortable: AttemptContext[] | undefined;
  #abortReason: unknown;

  constructor(
    core: HedgingCore,
    operation: Operation<T>,
    parent: PolicyContext,
    resolve: (value: T) => void,
    reject: (reason: unknown) => void,
  ) {
    this.#core = core;
    this.#operation = operation;
    this.#parent = parent;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    this.#launch("delay");
    this.#scheduleNext();
    const signal = this.#parent.signal;
    if (signal === undefined || this.#done) return;
    // The operation may have aborted the caller's signal synchronously, before a listener could see it.
    if (signal.aborted) this.handleEvent();
    else signal.addEventListener("abort", this, { once: true });
  }

  /** Registers an attempt whose signal now exists, aborting it at once if the call is already over. */
  track(attempt: AttemptContext, controller: AbortController): void {
    if (this.#done) {
      if (!attempt.settled) controller.abort(this.#lostReason());
      return;
    }
    if (this.#abortable === undefined) this.#abortable = [attempt];
    else this.#abortable.push(attempt);
  }

  /** The caller's signal aborted: abort every attempt with its reason and reject with it. */
  handleEvent(): void {
    if (this.#done) return;
    const reason = this.#parent.signal!.reason;
    this.#abortReason = reason;
    this.#end();
    this.#core.cancelled++;
    this.#reject(reason);
  }

  #launch(trigger: "delay" | "failure"): void {
    const core = this.#core;
    const number = ++this.#started;
    this.#running++;
    const attempt = new AttemptContext(this as HedgedCall<unknown>, number, this.#parent);
    if (number > 1) {
      core.hedgedAttempts++;
      if (core.events.active) core.events.emit({ type: "hedge", name: core.name, attempt: number, trigger });
    }
    let value: T;
    try {
      const result = this.#operation(attempt);
      if (typeof (result as PromiseLike<T> | null)?.then === "function") {
        (result as PromiseLike<T>).then(
          (settled) => this.#attemptSucceeded(attempt, settled),
          (error: unknown) => this.#attemptFailed(attempt, error),
        );
        return;
      }
      value = result as T;
    } catch (error) {
      this.#attemptFailed(attempt, error);
      return;
    }
    this.#attemptSucceeded(attempt, value);
  }

  #scheduleNext(): void {
    if (this.#done || this.#timer !== undefined || this.#started >= this.#core.maxAttempts) return;
    const core = this.#core;
    let ms: number;
    if (typeof core.delay === "number") {
      ms = core.delay;
    } else {
      try {
        ms = core.delay(this.#started + 1);
      } catch (error) {
        this.#fail(error);
        return;
      }
    }
    if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY)) return;
    if (ms === 0) {
      this.#launch("delay");
      this.#scheduleNext();
      return;
    }
    this.#timer = core.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#done) return;
      this.#launch("delay");
      this.#scheduleNext();
    }, ms);
  }

  #attemptSucceeded(attempt: AttemptContext, value: T): void {
    attempt.settled = true;
    if (this.#done) return;
    this.#running--;
    this.#end();
    const core = this.#core;
    if (attempt.attempt === 1) core.firstAttemptWins++;
    else core.hedgeWins++;
    if (core.events.active) core.events.emit({ type: "success", name: core.name, attempt: attempt.attempt });
    this.#resolve(value);
  }

  #attemptFailed(attempt: AttemptContext, error: unknown): void {
    attempt.settled = true;
    if (this.#done) return;
    this.#running--;
    const core = this.#core;
    if (core.events.active)
      core.events.emit({ type: "error", name: core.name, attempt: attempt.attempt, error });
    let worthAnother: boolean;
    try {
      worthAnother = core.shouldHedgeOn === undefined || core.shouldHedgeOn(error);
    } catch (predicateError) {
      this.#fail(predicateError);
      return;
    }
    if (!worthAnother) {
      this.#fail(error);
    } else if (this.#started < core.maxAttempts) {
      // The next delay counts from the start of the attempt that replaces the failed one.
      this.#clearTimer();
      this.#launch("failure");
      this.#scheduleNext();
    } else if (this.#running === 0) {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    if (this.#done) return;
    this.#end();
    const core = this.#core;
    core.failures++;
    if (core.events.active) {
      core.events.emit({ type: "failure", name: core.name, attempts: this.#started, error });
    }
    this.#reject(error);
  }

  /**
   * Marks the call settled, clears its timer, stops listening to the caller and aborts the
   * attempts still running: with the caller's reason after a caller abort, else as lost.
   */
  #end(): void {
    this.#done = true;
    this.#clearTimer();
    this.#parent.signal?.removeEventListener("abort", this);
    const abortable = this.#abortable;
    if (abortable === undefined) return;
    this.#abortable = undefined;
    for (const attempt of abortable) {
      if (!attempt.settled) attempt.abort(this.#lostReason());
    }
  }

  /** The caller's reason after a caller abort, else the one lost-attempt error of this call. */
  #lostReason(): unknown {
    this.#abortReason ??= new FlotillaError(
      ErrorCode.HedgeLost,
      `hedging "${this.#core.name}": attempt lost; another attempt settled the call first`,
    );
    return this.#abortReason;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#core.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
