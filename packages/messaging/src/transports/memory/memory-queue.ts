import type { Clock, TimerHandle } from "@flotilla/resilience";
import { topicMatcher } from "../../transport/topic.js";
import type { TransportMessage } from "../../transport/transport.js";

/** A message waiting in, or taken from, a {@link MemoryQueue}. */
export interface QueuedMessage {
  readonly message: TransportMessage;
  /** Deliveries made so far (handler calls). */
  deliveries: number;
}

/** A subscription as a queue sees it: how many more messages it takes, and where to hand them. */
export interface QueueConsumer {
  /** How many more messages it takes now (prefetch minus those it holds). */
  readonly capacity: number;
  take(entry: QueuedMessage): void;
}

interface Entry extends QueuedMessage {
  /** Position among ready messages: publish order, or when a retry became due. */
  order: number;
  timer: TimerHandle | undefined;
}

/**
 * One named queue of a {@link MemoryTransport}: its bindings (topic patterns, accumulated over
 * every subscription to it), the messages waiting in it, and the subscriptions competing for them,
 * served round-robin within their free prefetch.
 */
export class MemoryQueue {
  readonly name: string;
  readonly #clock: Clock;
  readonly #bindings = new Map<string, (topic: string) => boolean>();
  /** Ready messages, ascending `order`. */
  readonly #ready: Entry[] = [];
  readonly #delayed = new Set<Entry>();
  readonly #consumers: QueueConsumer[] = [];
  #nextConsumer = 0;
  #nextOrder = 0;
  #pumpScheduled = false;
  #disposed = false;

  constructor(name: string, clock: Clock) {
    this.name = name;
    this.#clock = clock;
  }

  /** Messages waiting (ready or delayed), not counting those held by subscriptions. */
  get depth(): number {
    return this.#ready.length + this.#delayed.size;
  }

  /** Adds topic patterns; a message whose topic matches any of them lands in this queue. */
  bind(patterns: readonly string[]): void {
    for (const pattern of patterns) {
      if (!this.#bindings.has(pattern)) this.#bindings.set(pattern, topicMatcher(pattern));
    }
  }

  matches(topic: string): boolean {
    for (const match of this.#bindings.values()) if (match(topic)) return true;
    return false;
  }

  /** Adds a new message, due after `delayMs`. */
  enqueue(message: TransportMessage, delayMs = 0): void {
    const entry: Entry = { message, deliveries: 0, order: this.#nextOrder++, timer: undefined };
    this.#due(entry, delayMs);
  }

  /**
   * Puts a delivered message back, due after `delayMs`, behind what is ready then. Always through
   * a clock timer, even for 0 ms: a handler that retries at once forever must not starve the
   * event loop.
   */
  requeue(entry: QueuedMessage, delayMs: number): void {
    this.#due(entry as Entry, delayMs, true);
  }

  /** Puts back a message a subscription took but never delivered, in its old place. */
  release(entry: QueuedMessage): void {
    this.#makeReady(entry as Entry);
  }

  addConsumer(consumer: QueueConsumer): void {
    this.#consumers.push(consumer);
    this.schedulePump();
  }

  removeConsumer(consumer: QueueConsumer): void {
    const index = this.#consumers.indexOf(consumer);
    if (index >= 0) this.#consumers.splice(index, 1);
  }

  /** Hands ready messages to consumers with free capacity, on the next microtask. */
  schedulePump(): void {
    if (this.#pumpScheduled || this.#disposed) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Cancels the delay timers and drops every message. */
  dispose(): void {
    this.#disposed = true;
    for (const entry of this.#delayed) if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    this.#delayed.clear();
    this.#ready.length = 0;
    this.#consumers.length = 0;
  }

  #due(entry: Entry, delayMs: number, timed = false): void {
    if (this.#disposed) return;
    if (delayMs <= 0 && !timed) {
      this.#makeReady(entry);
      return;
    }
    this.#delayed.add(entry);
    entry.timer = this.#clock.setTimeout(
      () => {
        entry.timer = undefined;
        if (!this.#delayed.delete(entry)) return;
        if (timed) entry.order = this.#nextOrder++;
        this.#makeReady(entry);
      },
      Math.max(0, delayMs),
      true,
    );
  }

  #makeReady(entry: Entry): void {
    if (this.#disposed) return;
    let index = this.#ready.length;
    while (index > 0 && this.#ready[index - 1]!.order > entry.order) index -= 1;
    this.#ready.splice(index, 0, entry);
    this.schedulePump();
  }

  #pump(): void {
    while (this.#ready.length > 0) {
      const consumer = this.#nextWithCapacity();
      if (consumer === undefined) return;
      consumer.take(this.#ready.shift()!);
    }
  }

  #nextWithCapacity(): QueueConsumer | undefined {
    const count = this.#consumers.length;
    for (let step = 0; step < count; step++) {
      const index = (this.#nextConsumer + step) % count;
      const consumer = this.#consumers[index]!;
      if (consumer.capacity > 0) {
        this.#nextConsumer = (index + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }
}
