import type { Clock } from "../clock.js";
import { ConfigReader } from "../config/config-reader.js";
import { BulkheadFullError, BulkheadQueueTimeoutError } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import { type ExpiryEntry, ExpiryQueue } from "../timeout/expiry-queue.js";
import { isPromiseLike } from "../timeout/is-promise-like.js";
import type { BulkheadEvent } from "./bulkhead-event.js";
import { type BulkheadOptions, parseBulkheadOptions } from "./bulkhead-options.js";

/** Plain numbers for metrics. */
export interface BulkheadSnapshot {
  /** Calls holding a slot. */
  readonly inFlight: number;
  /** Calls waiting for a slot. */
  readonly queued: number;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  /** Calls refused so far, because the bulkhead was full or the wait in the queue was too long. */
  readonly rejected: number;
}

/**
 * Limits how many calls run at the same time, so that one slow dependency cannot take every
 * resource of the caller (Resilience4j's `SemaphoreBulkhead`, with a bounded FIFO queue).
 *
 * A call runs at once when a slot is free. Otherwise it waits in a queue of at most `maxQueue`
 * calls, first in first out, and when a running call settles its slot passes straight to the
 * oldest waiter. A call that finds the queue full fails at once with `BulkheadFullError`; a
 * waiter not started within `maxQueueWait` fails with `BulkheadQueueTimeoutError`. A waiter whose
 * `ctx.signal` aborts leaves the queue at once and rejects with the signal's reason.
 *
 * Cost: a call that finds a free slot allocates nothing beyond the operation's own promise
 * chain; the queue is an intrusive linked list (O(1) removal from anywhere), watched by at most
 * one timer, and only when `maxQueueWait` is set.
 */
export class Bulkhead implements Policy {
  /** Appears in errors and events. */
  readonly name: string;
  /** Calls that may run at the same time. */
  readonly maxConcurrent: number;
  /** Calls that may wait for a slot. */
  readonly maxQueue: number;
  /** How long a call may wait for a slot, in milliseconds; undefined for as long as it takes. */
  readonly maxQueueWaitMs: number | undefined;
  /** Permitted, rejected and finished calls, as they happen. */
  readonly events = new EventStream<BulkheadEvent>();
  readonly #clock: Clock;
  readonly #queue: ExpiryQueue<Waiter>;
  readonly #hooks: WaiterHooks;
  #inFlight = 0;
  #rejected = 0;
  readonly #onFulfilled = (value: unknown): unknown => {
    this.#release();
    return value;
  };
  readonly #onRejected = (error: unknown): never => {
    this.#release();
    throw error;
  };

  constructor(options: BulkheadOptions) {
    const reader = new ConfigReader();
    const resolved = parseBulkheadOptions(options, reader, "");
    reader.throwIfInvalid();
    this.name = resolved.name;
    this.maxConcurrent = resolved.maxConcurrent;
    this.maxQueue = resolved.maxQueue;
    this.maxQueueWaitMs = resolved.maxQueueWaitMs;
    this.#clock = resolved.clock;
    this.#queue = new ExpiryQueue(resolved.maxQueueWaitMs === undefined ? undefined : resolved.clock);
    this.#hooks = {
      release: () => this.#release(),
      timedOut: (waiter) => this.#timedOut(waiter),
      abandoned: (waiter) => this.#abandoned(waiter),
    };
  }

  /** Runs `operation` in a slot, waiting for one in the queue if the bulkhead allows it. */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    const signal = context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#inFlight < this.maxConcurrent) {
      this.#inFlight++;
      if (this.events.active) this.events.emit({ type: "callPermitted", name: this.name, waitedMs: 0 });
      return this.#run(operation, context);
    }
    if (this.#queue.size >= this.maxQueue) {
      this.#rejected++;
      if (this.events.active) this.events.emit({ type: "callRejected", name: this.name, reason: "full" });
      return Promise.reject(new BulkheadFullError(this.name, this.maxConcurrent, this.maxQueue));
    }
    return this.#enqueue(operation, context, signal);
  }

  /** Current counters and limits. */
  snapshot(): BulkheadSnapshot {
    return {
      inFlight: this.#inFlight,
      queued: this.#queue.size,
      maxConcurrent: this.maxConcurrent,
      maxQueue: this.maxQueue,
      rejected: this.#rejected,
    };
  }

  /** Runs `operation` in a slot already taken, and gives the slot back when it settles. */
  #run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = operation(context);
    } catch (error) {
      this.#release();
      return Promise.reject(error);
    }
    if (!isPromiseLike(result)) {
      this.#release();
      return Promise.resolve(result);
    }
    return Promise.resolve(result).then(this.#onFulfilled, this.#onRejected) as Promise<T>;
  }

  #enqueue<T>(operation: Operation<T>, context: PolicyContext, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // The clock is read only when something needs the time: a queue timeout or a listener.
      const now = this.maxQueueWaitMs !== undefined || this.events.active ? this.#clock.now() : Number.NaN;
      let expiresAt =
        this.maxQueueWaitMs === undefined ? Number.POSITIVE_INFINITY : now + this.maxQueueWaitMs;
      // Keeps the queue in expiry order even if a clock steps backwards; such a waiter waits a little longer.
      const last = this.#queue.last;
      if (last !== undefined && expiresAt < last.expiresAt) expiresAt = last.expiresAt;
      const waiter = new Waiter(
        this.#hooks,
        operation as Operation<unknown>,
        context,
        signal,
        now,
        expiresAt,
        resolve as (value: unknown) => void,
        reject,
      );
      this.#queue.push(waiter, now);
      signal?.addEventListener("abort", waiter);
    });
  }

  /** Gives a slot back: straight to the oldest waiter if there is one. */
  #release(): void {
    if (this.events.active) this.events.emit({ type: "callFinished", name: this.name });
    // A waiter whose operation finishes synchronously frees the slot again at once; loop instead
    // of recursing so that a long queue of such waiters cannot overflow the stack.
    for (let waiter = this.#queue.shift(); waiter !== undefined; waiter = this.#queue.shift()) {
      if (this.#start(waiter)) return;
    }
    this.#inFlight--;
  }

  /** Runs a waiter in the slot it was handed; returns false if its operation already finished. */
  #start(waiter: Waiter): boolean {
    waiter.unlisten();
    if (this.events.active) {
      const waitedMs = this.#clock.now() - waiter.queuedAt;
      this.events.emit(
        Number.isNaN(waitedMs)
          ? { type: "callPermitted", name: this.name }
          : { type: "callPermitted", name: this.name, waitedMs },
      );
    }
    let result: unknown;
    try {
      result = waiter.operation(waiter.context);
    } catch (error) {
      waiter.reject(error);
      if (this.events.active) this.events.emit({ type: "callFinished", name: this.name });
      return false;
    }
    if (!isPromiseLike(result)) {
      waiter.resolve(result);
      if (this.events.active) this.events.emit({ type: "callFinished", name: this.name });
      return false;
    }
    Promise.resolve(result).then(waiter.fulfilled, waiter.rejected);
    return true;
  }

  #timedOut(waiter: Waiter): void {
    waiter.unlisten();
    this.#rejected++;
    if (this.events.active)
      this.events.emit({ type: "callRejected", name: this.name, reason: "queueTimeout" });
    waiter.reject(new BulkheadQueueTimeoutError(this.name, this.maxQueueWaitMs!));
  }

  #abandoned(waiter: Waiter): void {
    if (!this.#queue.remove(waiter)) return;
    const reason: unknown = waiter.signal!.reason;
    waiter.unlisten();
    waiter.reject(reason);
  }
}

/** Creates a {@link Bulkhead}: `bulkhead({ maxConcurrent: 10, maxQueue: 50, maxQueueWait: "1s" })`. */
export function bulkhead(options: BulkheadOptions): Bulkhead {
  return new Bulkhead(options);
}

/** What a {@link Waiter} needs from its bulkhead, shared by every waiter of one bulkhead. */
interface WaiterHooks {
  release(): void;
  timedOut(waiter: Waiter): void;
  abandoned(waiter: Waiter): void;
}

/** A call waiting for a slot: the queue entry and the listener on the caller's signal in one object. */
class Waiter implements ExpiryEntry {
  prev: ExpiryEntry | undefined = undefined;
  next: ExpiryEntry | undefined = undefined;
  readonly #hooks: WaiterHooks;
  /** Settles the caller's promise with the operation's value and gives the slot back. */
  readonly fulfilled = (value: unknown): void => {
    this.#hooks.release();
    this.resolve(value);
  };
  /** Rejects the caller's promise with the operation's error and gives the slot back. */
  readonly rejected = (error: unknown): void => {
    this.#hooks.release();
    this.reject(error);
  };

  constructor(
    hooks: WaiterHooks,
    readonly operation: Operation<unknown>,
    readonly context: PolicyContext,
    /** The caller's signal while the waiter listens to it. */
    public signal: AbortSignal | undefined,
    readonly queuedAt: number,
    readonly expiresAt: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {
    this.#hooks = hooks;
  }

  /** The expiry queue's callback: waited longer than `maxQueueWait`. */
  expire(): void {
    this.#hooks.timedOut(this);
  }

  /** The listener on the caller's signal. */
  handleEvent(): void {
    this.#hooks.abandoned(this);
  }

  unlisten(): void {
    this.signal?.removeEventListener("abort", this);
    this.signal = undefined;
  }
}
