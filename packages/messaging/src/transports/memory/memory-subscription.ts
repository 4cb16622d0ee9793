import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { MessagingLogger } from "../../messaging-logger.js";
import { KeyedSerializer } from "../../transport/keyed-serializer.js";
import type { SubscribeOptions, Subscription } from "../../transport/transport.js";
import type { MemoryDeadLetters } from "./memory-dead-letters.js";
import { type DeliverySettler, MemoryDelivery } from "./memory-delivery.js";
import type { MemoryQueue, QueueConsumer, QueuedMessage } from "./memory-queue.js";

/** What a {@link MemorySubscription} needs from its transport. */
export interface MemorySubscriptionContext {
  readonly source: MemoryQueue;
  readonly deadLetters: MemoryDeadLetters;
  readonly logger: MessagingLogger;
  readonly retryDelayOnThrowMs: number;
  /** False once the transport dropped its queues: settling is refused then. */
  isOpen(): boolean;
  /** Called once when the subscription has closed. */
  onClosed(subscription: MemorySubscription): void;
}

/**
 * A subscription of a {@link MemoryTransport}: takes up to `prefetch` messages from its queue and
 * runs the handler on them, concurrently across partition keys and one at a time per key
 * (through a {@link KeyedSerializer}), so each key is handled in queue order.
 */
export class MemorySubscription implements Subscription, QueueConsumer {
  readonly queue: string;
  readonly #options: SubscribeOptions;
  readonly #context: MemorySubscriptionContext;
  readonly #serializer = new KeyedSerializer();
  readonly #tasks = new Set<Promise<void>>();
  #held = 0;
  #closing: Promise<void> | undefined;

  constructor(options: SubscribeOptions, context: MemorySubscriptionContext) {
    this.queue = options.queue;
    this.#options = options;
    this.#context = context;
  }

  get capacity(): number {
    return this.#closing === undefined ? this.#options.prefetch - this.#held : 0;
  }

  take(entry: QueuedMessage): void {
    this.#held += 1;
    const task = this.#serializer
      .run(entry.message.key, () => this.#deliver(entry))
      .catch((err: unknown) => {
        this.#context.logger.warn(
          { queue: this.queue, messageId: entry.message.id, err },
          "memory transport: delivery failed",
        );
      });
    this.#tasks.add(task);
    void task.then(() => this.#tasks.delete(task));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#context.source.removeConsumer(this);
      while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
      this.#context.onClosed(this);
    })();
    return this.#closing;
  }

  async #deliver(entry: QueuedMessage): Promise<void> {
    const { source, logger, retryDelayOnThrowMs } = this.#context;
    if (this.#closing !== undefined) {
      this.#held -= 1;
      source.release(entry);
      return;
    }
    entry.deliveries += 1;
    const delivery = new MemoryDelivery(entry.message, entry.deliveries, this.#settler(entry));
    const fields = { queue: this.queue, messageId: entry.message.id, attempt: entry.deliveries };
    try {
      await this.#options.handler(delivery);
    } catch (err) {
      if (delivery.settled) {
        logger.warn({ ...fields, err }, "memory transport: handler threw after settling its delivery");
        return;
      }
      logger.warn(
        { ...fields, err, retryInMs: retryDelayOnThrowMs },
        "memory transport: handler threw; retrying",
      );
      await this.#retryUnsettled(delivery, "handler threw without settling");
      return;
    }
    if (!delivery.settled) {
      logger.warn(
        { ...fields, retryInMs: retryDelayOnThrowMs },
        "memory transport: handler returned without settling; retrying",
      );
      await this.#retryUnsettled(delivery, "handler returned without settling");
    }
  }

  async #retryUnsettled(delivery: MemoryDelivery, why: string): Promise<void> {
    // The transport may have closed under the handler; then the message is dropped with the queue.
    if (this.#context.isOpen()) await delivery.retry(this.#context.retryDelayOnThrowMs, why);
  }

  #settler(entry: QueuedMessage): DeliverySettler {
    const { source, deadLetters, logger } = this.#context;
    const settled = (): void => {
      if (!this.#context.isOpen()) {
        throw new MessagingError(
          MessagingErrorCode.Closed,
          `memory transport is closed: cannot settle message ${entry.message.id}`,
        );
      }
      this.#held -= 1;
      source.schedulePump();
    };
    return {
      ack: settled,
      retry: (delayMs, error) => {
        settled();
        logger.debug(
          { queue: this.queue, messageId: entry.message.id, delayMs, error },
          "memory transport: retry",
        );
        source.requeue(entry, delayMs);
      },
      deadLetter: (reason) => {
        settled();
        deadLetters.add({
          queue: this.queue,
          message: entry.message,
          reason,
          attempts: entry.deliveries,
          deadLetteredAt: new Date(),
        });
      },
      alreadySettled: (attempted, settledBy) => {
        logger.warn(
          { queue: this.queue, messageId: entry.message.id, attempted, settledBy },
          "memory transport: delivery settled twice; ignoring the second call",
        );
      },
    };
  }
}
