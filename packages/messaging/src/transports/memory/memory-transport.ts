import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { assertOutgoingMessages } from "../../transport/assert-outgoing-messages.js";
import { assertSubscribeOptions } from "../../transport/assert-subscribe-options.js";
import type {
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportMessage,
} from "../../transport/transport.js";
import { MemoryDeadLetters } from "./memory-dead-letters.js";
import { MemoryQueue } from "./memory-queue.js";
import { MemorySubscription } from "./memory-subscription.js";
import {
  type MemoryTransportOptions,
  parseMemoryTransportOptions,
  type ResolvedMemoryTransportOptions,
} from "./memory-transport-options.js";

function copyMessage(message: TransportMessage): TransportMessage {
  return Object.freeze({
    id: message.id,
    topic: message.topic,
    ...(message.key === undefined ? {} : { key: message.key }),
    ...(message.headers === undefined ? {} : { headers: Object.freeze({ ...message.headers }) }),
    body: new Uint8Array(message.body),
  });
}

/**
 * An in-process {@link Transport}, for unit tests and for running on a laptop without a broker.
 * Behaves like a topic exchange: every queue whose bindings (the topic patterns of the
 * subscriptions made to it, kept after they close) match a message's topic gets a copy, and the
 * subscriptions of one queue compete for its messages (round-robin). Each subscription holds up
 * to `prefetch` messages and runs its handler for one partition key at a time, in queue order; as
 * with RabbitMQ, two competing subscriptions may each hold a message of the same key. Delays use
 * the injected clock. A retried message goes behind the messages ready when it becomes due.
 *
 * Nothing survives the process: messages and dead letters live in this object, and messages
 * published to a topic before any queue is bound to it are dropped (like a broker's exchange).
 *
 * @example
 * ```ts
 * const transport = memoryTransport();
 * await transport.subscribe({
 *   queue: "billing",
 *   topics: ["orders.*"],
 *   prefetch: 8,
 *   handler: async (delivery) => { handle(delivery.message); await delivery.ack(); },
 * });
 * await transport.publish([{ id: "1", topic: "orders.placed", body: new TextEncoder().encode("{}") }]);
 * ```
 */
export class MemoryTransport implements Transport {
  readonly kind = "memory";
  readonly deadLetters: MemoryDeadLetters;
  readonly #options: ResolvedMemoryTransportOptions;
  readonly #queues = new Map<string, MemoryQueue>();
  readonly #subscriptions = new Set<MemorySubscription>();
  #closing: Promise<void> | undefined;
  #disposed = false;

  /** Validates `options` (see {@link MemoryTransportOptions}); throws `FLT_MESSAGING_CONFIG_INVALID` naming a bad one. */
  constructor(options: MemoryTransportOptions = {}) {
    this.#options = parseMemoryTransportOptions(options);
    this.deadLetters = new MemoryDeadLetters({
      assertOpen: () => this.#assertOpen("dead letters"),
      requeue: (queue, message) => this.#queue(queue).enqueue(message),
    });
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen("publish");
    assertOutgoingMessages(messages);
    for (const message of messages) {
      for (const queue of this.#queues.values()) {
        if (queue.matches(message.topic)) queue.enqueue(copyMessage(message), message.delayMs ?? 0);
      }
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen("subscribe");
    assertSubscribeOptions(options);
    const source = this.#queue(options.queue);
    source.bind(options.topics);
    const subscription = new MemorySubscription(
      {
        queue: options.queue,
        topics: [...options.topics],
        prefetch: options.prefetch,
        handler: options.handler,
      },
      {
        source,
        deadLetters: this.deadLetters,
        logger: this.#options.logger,
        retryDelayOnThrowMs: this.#options.retryDelayOnThrowMs,
        isOpen: () => !this.#disposed,
        onClosed: (closed) => this.#subscriptions.delete(closed),
      },
    );
    this.#subscriptions.add(subscription);
    source.addConsumer(subscription);
    return subscription;
  }

  /** Messages waiting in `queue` (ready or delayed), not counting those held by subscriptions. */
  depth(queue: string): number {
    return this.#queues.get(queue)?.depth ?? 0;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
      this.#disposed = true;
      for (const queue of this.#queues.values()) queue.dispose();
      this.#queues.clear();
    })();
    return this.#closing;
  }

  #queue(name: string): MemoryQueue {
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new MemoryQueue(name, this.#options.clock);
      this.#queues.set(name, queue);
    }
    return queue;
  }

  #assertOpen(operation: string): void {
    if (this.#closing !== undefined) {
      throw new MessagingError(MessagingErrorCode.Closed, `memory transport is closed: cannot ${operation}`);
    }
  }
}

/**
 * Creates a {@link MemoryTransport}.
 *
 * @param options - `clock` (default: the system clock) times delays; `retryDelayOnThrowMs`
 *   (default 1000) is the redelivery delay after a handler threw without settling; `logger`
 *   (pino-compatible, default silent) receives handler failures.
 * @example
 * ```ts
 * const transport = memoryTransport({ retryDelayOnThrowMs: 10 });
 * ```
 */
export function memoryTransport(options?: MemoryTransportOptions): MemoryTransport {
  return new MemoryTransport(options);
}
