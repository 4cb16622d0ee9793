import { ConsumerStatus } from "rabbitmq-client";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import {
  DeadLetterCode,
  type DeadLetterReason,
  type Delivery,
  type TransportMessage,
} from "../../transport/transport.js";
import type { ReceivedAmqpMessage } from "./rabbitmq-message.js";

/** What a {@link RabbitMqDelivery} needs from its subscription to retry or dead-letter a message. */
export interface DeliverySettler {
  /** Publishes `received` (confirmed) to wait `delayMs` before coming back with `attempt`. */
  retry(received: ReceivedAmqpMessage, attempt: number, delayMs: number, error: string): Promise<void>;
  /** Publishes `received` (confirmed) to the subscription's dead-letter queue. */
  deadLetter(received: ReceivedAmqpMessage, attempts: number, reason: DeadLetterReason): Promise<void>;
}

const deadLetterCodes = new Set<string>(Object.values(DeadLetterCode));

/**
 * One delivery from a RabbitMQ queue. The consumer callback waits on {@link outcome}, which says
 * how to settle the AMQP delivery: ack once the message is acked, retried or dead-lettered (the
 * copy confirmed first), requeue when that copy could not be published (nothing is lost).
 */
export class RabbitMqDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly attempt: number;
  /** Resolves with the AMQP settlement once the handler has settled the delivery. */
  readonly outcome: Promise<ConsumerStatus>;
  readonly #received: ReceivedAmqpMessage;
  readonly #settler: DeliverySettler;
  #resolve!: (status: ConsumerStatus) => void;
  #settledBy: string | undefined;

  constructor(received: ReceivedAmqpMessage, attempt: number, settler: DeliverySettler) {
    this.message = received.message;
    this.attempt = attempt;
    this.#received = received;
    this.#settler = settler;
    this.outcome = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** True once `ack`, `retry` or `deadLetter` was called. */
  get settled(): boolean {
    return this.#settledBy !== undefined;
  }

  async ack(): Promise<void> {
    this.#claim("ack");
    this.#resolve(ConsumerStatus.ACK);
  }

  async retry(delayMs: number, error: string): Promise<void> {
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `retry delayMs must be a finite number of milliseconds from 0, got ${String(delayMs)}`,
      );
    }
    this.#claim("retry");
    await this.#settle(() => this.#settler.retry(this.#received, this.attempt + 1, delayMs, String(error)));
  }

  async deadLetter(reason: DeadLetterReason): Promise<void> {
    if (typeof reason !== "object" || reason === null || !deadLetterCodes.has(reason.code)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `deadLetter reason.code must be one of ${[...deadLetterCodes].join(", ")}, got ${JSON.stringify(reason?.code)}`,
      );
    }
    this.#claim("deadLetter");
    await this.#settle(() =>
      this.#settler.deadLetter(this.#received, this.attempt, {
        code: reason.code,
        message: String(reason.message),
      }),
    );
  }

  #claim(how: string): void {
    if (this.#settledBy !== undefined) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `delivery of message ${this.message.id} was already settled by ${this.#settledBy}(); ${how}() must not follow`,
      );
    }
    this.#settledBy = how;
  }

  async #settle(publish: () => Promise<void>): Promise<void> {
    try {
      await publish();
    } catch (error) {
      this.#resolve(ConsumerStatus.REQUEUE);
      throw error;
    }
    this.#resolve(ConsumerStatus.ACK);
  }
}
