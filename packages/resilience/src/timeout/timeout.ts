import type { Clock, TimerHandle } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import { Deadline } from "../deadline.js";
import { DeadlineExceededError, TimeoutError } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import { type ExpiryEntry, ExpiryQueue } from "./expiry-queue.js";
import { isPromiseLike } from "./is-promise-like.js";
import type { TimeoutEvent } from "./timeout-event.js";
import {
  parseTimeoutOptions,
  type ResolvedTimeoutOptions,
  type TimeoutOptions,
  type TimeoutStrategy,
} from "./timeout-options.js";

/** Plain numbers for metrics. */
export interface TimeoutSnapshot {
  /** Calls to `execute`, including those that failed before the operation started. */
  readonly calls: number;
  /** Calls whose limit elapsed. */
  readonly timeouts: number;
  /** Operations started and not yet settled, including ones an aggressive timeout gave up on. */
  readonly inFlight: number;
}

const RUNNING = 0;
const TIMED_OUT = 1;
const ABORTED = 2;
type CallState = typeof RUNNING | typeof TIMED_OUT | typeof ABORTED;

/**
 * Limits how long a call may take. The operation receives a context whose `signal` aborts with a
 * `TimeoutError` when the limit elapses and whose `deadline` is the earlier of the caller's
 * deadline and the limit, so nested calls and retries see the remaining budget.
 *
 * - When the caller's deadline comes before the limit, the call is limited by that deadline and
 *   fails with a `TimeoutError` whose `timeoutMs` is the budget that was left; when the caller's
 *   deadline is already spent, the call fails with a `DeadlineExceededError` without starting.
 * - When the caller's own `signal` aborts, the operation's signal aborts with the same reason and
 *   the call rejects with that reason (never a `TimeoutError`, never counted as a timeout).
 *
 * Cost: a call that settles in time reads the clock once and arms no timer of its own: all calls
 * of one policy share one clock timer, since their limits expire in the order they started. That
 * timer is not cleared when the last call settles but left to fire once, at most `duration`
 * later (unref'd meanwhile, so it never keeps the process alive), so that calls made one after
 * another do not each arm and clear a timer. Only a call limited by a caller's deadline sooner
 * than `duration` gets a timer of its own, cleared when it settles. No `AbortController` exists
 * unless the operation reads `ctx.signal`, there is no listener work unless the caller passed a
 * signal, and nothing is aborted on the success path.
 *
 * The context handed to the operation keeps the caller's `attempt` and `key`; `signal` and
 * `deadline` are getters on its prototype, so code that derives a context with object spread
 * must copy them explicitly.
 */
export class Timeout implements Policy {
  /** Appears in errors and events. */
  readonly name: string;
  /** The limit for one call, in milliseconds. */
  readonly durationMs: number;
  /** What happens when the limit elapses. */
  readonly strategy: TimeoutStrategy;
  /** Timeouts, successes, errors and caller aborts, as they happen. */
  readonly events = new EventStream<TimeoutEvent>();
  readonly #clock: Clock;
  readonly #aggressive: boolean;
  readonly #queue: ExpiryQueue<TimeoutCall>;
  readonly #hooks: CallHooks;
  #calls = 0;
  #timeouts = 0;
  #inFlight = 0;

  constructor(options: TimeoutOptions) {
    const reader = new ConfigReader();
    const resolved: ResolvedTimeoutOptions = parseTimeoutOptions(options, reader, "");
    reader.throwIfInvalid();
    this.name = resolved.name;
    this.durationMs = resolved.durationMs;
    this.strategy = resolved.strategy;
    this.#clock = resolved.clock;
    this.#aggressive = resolved.strategy === "aggressive";
    this.#queue = new ExpiryQueue(resolved.clock);
    this.#hooks = {
      clock: resolved.clock,
      expire: (call) => this.#expire(call),
      callerAborted: (call) => this.#callerAborted(call),
    };
  }

  /** Runs `operation` within the limit; see {@link Timeout} for what the operation's context carries. */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    this.#calls++;
    const callerSignal = context.signal;
    if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);
    const now = this.#clock.now();
    let limitMs = this.durationMs;
    let callerDeadline = context.deadline;
    if (callerDeadline !== undefined) {
      const left = callerDeadline.remaining();
      if (left <= 0) return this.#deadlineSpent();
      if (left <= limitMs) limitMs = left;
      else callerDeadline = undefined;
    }
    const call = new TimeoutCall(this.#hooks, context, now, limitMs, callerDeadline);
    this.#inFlight++;
    let result: T | PromiseLike<T>;
    try {
      result = operation(call);
    } catch (error) {
      this.#inFlight--;
      if (this.events.active) this.#emitEnd(call, false, error);
      return Promise.reject(error);
    }
    if (!isPromiseLike(result)) {
      this.#inFlight--;
      if (this.events.active) this.#emitEnd(call, true, undefined);
      return Promise.resolve(result);
    }
    if (callerDeadline !== undefined || !this.#queue.push(call, now)) {
      call.timer = this.#clock.setTimeout(() => this.#expire(call), limitMs);
    }
    const settled = this.#aggressive ? this.#race(call, result) : this.#follow(call, result);
    if (callerSignal !== undefined) {
      call.callerSignal = callerSignal;
      callerSignal.addEventListener("abort", call);
      // The operation itself may have aborted the caller's signal before it returned.
      if (callerSignal.aborted) this.#callerAborted(call);
    }
    return settled;
  }

  /** Current counters. */
  snapshot(): TimeoutSnapshot {
    return { calls: this.#calls, timeouts: this.#timeouts, inFlight: this.#inFlight };
  }

  #follow<T>(call: TimeoutCall, promise: PromiseLike<T>): Promise<T> {
    return Promise.resolve(promise).then(
      (value) => {
        this.#inFlight--;
        this.#detach(call);
        if (this.events.active) this.#emitEnd(call, true, undefined);
        return value;
      },
      (error: unknown) => {
        this.#inFlight--;
        this.#detach(call);
        const failure =
          call.state === RUNNING ? error : call.state === ABORTED ? call.reason : timedOut(call, error);
        if (this.events.active) this.#emitEnd(call, false, failure);
        throw failure;
      },
    );
  }

  #race<T>(call: TimeoutCall, promise: PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      call.reject = reject;
      Promise.resolve(promise).then(
        (value) => {
          this.#inFlight--;
          if (call.state !== RUNNING) return;
          this.#detach(call);
          if (this.events.active) this.#emitEnd(call, true, undefined);
          resolve(value);
        },
        (error: unknown) => {
          this.#inFlight--;
          if (call.state !== RUNNING) return;
          this.#detach(call);
          if (this.events.active) this.#emitEnd(call, false, error);
          reject(error);
        },
      );
    });
  }

  #expire(call: TimeoutCall): void {
    call.timer = undefined;
    if (call.state !== RUNNING) return;
    this.#timeouts++;
    const reason = new TimeoutError(call.limitMs);
    call.abort(TIMED_OUT, reason);
    if (this.events.active) this.events.emit({ type: "timeout", name: this.name, durationMs: call.limitMs });
    if (this.#aggressive) {
      this.#detach(call);
      if (this.events.active) this.#emitEnd(call, false, reason);
      call.reject!(reason);
    }
  }

  #callerAborted(call: TimeoutCall): void {
    if (call.state !== RUNNING) return;
    const reason: unknown = call.callerSignal!.reason;
    this.#detach(call);
    call.abort(ABORTED, reason);
    if (this.#aggressive) {
      if (this.events.active) this.#emitEnd(call, false, reason);
      call.reject!(reason);
    }
  }

  /** Clears the call's timer and its listener on the caller's signal, if they are still there. */
  #detach(call: TimeoutCall): void {
    if (call.timer !== undefined) {
      this.#clock.clearTimeout(call.timer);
      call.timer = undefined;
    } else {
      this.#queue.remove(call);
    }
    if (call.callerSignal !== undefined) {
      call.callerSignal.removeEventListener("abort", call);
      call.callerSignal = undefined;
    }
  }

  #deadlineSpent(): Promise<never> {
    const error = new DeadlineExceededError(
      `timeout "${this.name}": the caller's deadline was already spent`,
    );
    if (this.events.active) this.events.emit({ type: "error", name: this.name, elapsedMs: 0, error });
    return Promise.reject(error);
  }

  /** Emits the event that ends a call. */
  #emitEnd(call: TimeoutCall, ok: boolean, failure: unknown): void {
    const elapsedMs = this.#clock.now() - call.startedAt;
    if (ok) this.events.emit({ type: "success", name: this.name, elapsedMs });
    else if (call.state === ABORTED) {
      this.events.emit({ type: "aborted", name: this.name, elapsedMs, reason: failure });
    } else this.events.emit({ type: "error", name: this.name, elapsedMs, error: failure });
  }
}

/** Creates a {@link Timeout}: `timeout({ duration: "2s", strategy: "aggressive" })`. */
export function timeout(options: TimeoutOptions): Timeout {
  return new Timeout(options);
}

/** What a {@link TimeoutCall} needs from its policy, shared by every call of one policy. */
interface CallHooks {
  readonly clock: Clock;
  expire(call: TimeoutCall): void;
  callerAborted(call: TimeoutCall): void;
}

/**
 * One call: the context handed to the operation, the entry in the policy's expiry queue, and the
 * listener on the caller's signal, in one object so that a call allocates nothing else.
 */
class TimeoutCall implements PolicyContext, ExpiryEntry {
  readonly attempt: number | undefined;
  readonly key: string | undefined;
  prev: ExpiryEntry | undefined = undefined;
  next: ExpiryEntry | undefined = undefined;
  readonly expiresAt: number;
  readonly startedAt: number;
  /** The limit of this call: the policy's duration, or the caller's remaining budget if shorter. */
  readonly limitMs: number;
  state: CallState = RUNNING;
  /** Why the call was aborted, once it was. */
  reason: unknown = undefined;
  /** The call's own timer, used instead of the shared one when the caller's deadline is the limit. */
  timer: TimerHandle | undefined = undefined;
  /** The caller's signal while this call listens to it. */
  callerSignal: AbortSignal | undefined = undefined;
  /** Rejects the caller's promise early (aggressive strategy). */
  reject: ((reason: unknown) => void) | undefined = undefined;
  readonly #hooks: CallHooks;
  #deadline: Deadline | undefined;
  #controller: AbortController | undefined = undefined;

  constructor(
    hooks: CallHooks,
    context: PolicyContext,
    startedAt: number,
    limitMs: number,
    callerDeadline: Deadline | undefined,
  ) {
    this.#hooks = hooks;
    this.attempt = context.attempt;
    this.key = context.key;
    this.startedAt = startedAt;
    this.limitMs = limitMs;
    this.expiresAt = startedAt + limitMs;
    this.#deadline = callerDeadline;
  }

  /** Aborts when the limit elapses or the caller's signal aborts; created on first read. */
  get signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = this.#controller = new AbortController();
      if (this.state !== RUNNING) controller.abort(this.reason);
    }
    return controller.signal;
  }

  /** The earlier of the caller's deadline and the end of this call's limit; created on first read. */
  get deadline(): Deadline {
    if (this.#deadline === undefined) this.#deadline = new Deadline(this.expiresAt, this.#hooks.clock);
    return this.#deadline;
  }

  /** Records why the call ends early and aborts the operation's signal, if it was ever read. */
  abort(state: CallState, reason: unknown): void {
    this.state = state;
    this.reason = reason;
    this.#controller?.abort(reason);
  }

  /** The expiry queue's callback. */
  expire(): void {
    this.#hooks.expire(this);
  }

  /** The listener on the caller's signal. */
  handleEvent(): void {
    this.#hooks.callerAborted(this);
  }
}

function timedOut(call: TimeoutCall, error: unknown): unknown {
  // An operation that rejects with the signal's own reason already rejected with our TimeoutError.
  return error === call.reason ? error : new TimeoutError(call.limitMs, { cause: error });
}
