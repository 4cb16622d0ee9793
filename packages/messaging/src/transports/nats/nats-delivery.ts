import type { JsMsg } from "@nats-io/jetstream";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { MessagingLogger } from "../../messaging-logger.js";
import {
  DeadLetterCode,
  type DeadLetterReason,
  type Delivery,
  type TransportMessage,
} from "../../transport/transport.js";
import type { NatsDeadLetters } from "./nats-dead-letters.js";
import { toMessagingError } from "./nats-errors.js";

/** What a {@link NatsDelivery} needs from its subscription. */
export interface NatsDeliveryContext {
  readonly queue: string;
  /** The last attempt a retry may follow; a retry on it dead-letters instead. */
  readonly maxDeliver: number;
  /** How long to wait for JetStream to confirm an ack. */
  readonly ackTimeout: number;
  /** How often to tell JetStream the message is still being worked on; below its ack wait. */
  readonly keepAliveEvery: number;
  readonly deadLetters: NatsDeadLetters;
  readonly logger: MessagingLogger;
}

type State = "open" | "settling" | "settled";

/**
 * One JetStream delivery: `ack` waits for JetStream's confirmation, `retry` NAKs with the delay
 * (or dead-letters on the last allowed attempt), `deadLetter` stores the copy and then TERMs the
 * original. While unsettled it sends `working()` so JetStream does not redeliver it meanwhile.
 */
export class NatsDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly attempt: number;
  readonly #raw: JsMsg;
  readonly #context: NatsDeliveryContext;
  #state: State = "open";
  #keepAlive: NodeJS.Timeout | undefined;

  constructor(raw: JsMsg, message: TransportMessage, attempt: number, context: NatsDeliveryContext) {
    this.#raw = raw;
    this.message = message;
    this.attempt = attempt;
    this.#context = context;
  }

  get settled(): boolean {
    return this.#state === "settled";
  }

  /** Starts telling JetStream the message is in progress, until it is settled or {@link stopKeepAlive}. */
  keepAlive(): void {
    this.#keepAlive ??= setInterval(() => this.#raw.working(), this.#context.keepAliveEvery);
  }

  stopKeepAlive(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  ack(): Promise<void> {
    return this.#settle("ack", async () => {
      try {
        await this.#raw.ackAck({ timeout: this.#context.ackTimeout });
      } catch (error) {
        throw toMessagingError(error, `acknowledging message ${this.message.id}`);
      }
    });
  }

  retry(delayMs: number, error: string): Promise<void> {
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      return Promise.reject(
        new MessagingError(
          MessagingErrorCode.ConfigInvalid,
          `retry delay must be a non-negative number of milliseconds, got ${String(delayMs)}`,
        ),
      );
    }
    if (this.attempt >= this.#context.maxDeliver) {
      return this.deadLetter({
        code: DeadLetterCode.MaxAttempts,
        message: `attempt ${this.attempt} of ${this.#context.maxDeliver} failed: ${error}`,
      });
    }
    return this.#settle("retry", async () => {
      this.#raw.nak(Math.ceil(delayMs));
    });
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settle("dead-letter", async () => {
      await this.#context.deadLetters.store({
        queue: this.#context.queue,
        message: this.message,
        reason,
        attempts: this.attempt,
        subject: this.#raw.subject,
        sequence: this.#raw.seq,
      });
      this.#raw.term(reason.code);
    });
  }

  /** Hands an unsettled message back at once, for another subscriber (on close). */
  release(): void {
    if (this.#state !== "open") return;
    this.#state = "settled";
    this.stopKeepAlive();
    this.#raw.nak();
  }

  async #settle(action: string, run: () => Promise<void>): Promise<void> {
    if (this.#state !== "open") {
      this.#context.logger.warn(
        { queue: this.#context.queue, messageId: this.message.id, action, state: this.#state },
        "delivery settled twice; ignoring the second call",
      );
      return;
    }
    this.#state = "settling";
    try {
      await run();
      this.#state = "settled";
      this.stopKeepAlive();
    } catch (error) {
      this.#state = "open";
      throw error;
    }
  }
}
