import type { Envelope } from "../envelope/envelope.js";
import { isPermanentError } from "../errors/messaging-error.js";
import type { MessagingLogger } from "../messaging-logger.js";
import { DeadLetterCode, type DeadLetterReason, type Delivery } from "../transport/transport.js";
import { type ConsumeOutcome, type ConsumerMetrics, unknownTypeLabel } from "./consumer-metrics.js";
import type { ConsumerSpan } from "./consumer-span.js";
import type { EventHandler } from "./event-handler.js";

/** A delivery to settle, with what is known of it: the envelope, its handler and span once read. */
export interface SettleTarget {
  readonly delivery: Delivery;
  readonly envelope?: Envelope | undefined;
  readonly handler?: EventHandler | undefined;
  readonly span?: ConsumerSpan | undefined;
}

/** What a {@link DeliverySettler} needs. */
export interface DeliverySettlerOptions {
  readonly consumer: string;
  readonly maxAttempts: number;
  /** Milliseconds to wait before the retry after `attempt` failed with `error`. */
  readonly delay: (attempt: number, error: unknown) => number;
  readonly logger: MessagingLogger;
  readonly metrics: ConsumerMetrics;
  /** Called after a dead letter of a message whose envelope could be read (a command's failure reply). */
  readonly afterDeadLetter: (target: SettleTarget, reason: DeadLetterReason) => Promise<void>;
}

/**
 * Settles deliveries the one way each outcome calls for — ack, retry after backoff, or dead
 * letter with a reason — and records it in the logs, the metrics and the message's span. A
 * settlement the transport refuses (a lost connection) is logged and left to the broker, which
 * redelivers the message; nothing here throws.
 */
export class DeliverySettler {
  readonly #o: DeliverySettlerOptions;

  constructor(options: DeliverySettlerOptions) {
    this.#o = options;
  }

  /** Acknowledges a message whose handler committed, or a duplicate that was skipped. */
  async ack(target: SettleTarget, outcome: "acked" | "duplicate"): Promise<void> {
    if (outcome === "duplicate") {
      this.#o.logger.debug(
        { consumer: this.#o.consumer, messageId: target.delivery.message.id },
        "duplicate delivery skipped",
      );
    }
    await this.#settle(target, outcome, () => target.delivery.ack());
  }

  /**
   * Settles a message whose handler threw: a `PermanentError` or the last allowed attempt is
   * dead-lettered (`permanent`, `max-attempts`); anything else is retried after the backoff.
   */
  async failed(target: SettleTarget, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const { delivery } = target;
    if (isPermanentError(error)) {
      await this.deadLetter(target, { code: DeadLetterCode.Permanent, message });
      return;
    }
    if (delivery.attempt >= this.#o.maxAttempts) {
      await this.deadLetter(target, {
        code: DeadLetterCode.MaxAttempts,
        message: `attempt ${delivery.attempt} of ${this.#o.maxAttempts} failed: ${message}`,
      });
      return;
    }
    const delayMs = this.#o.delay(delivery.attempt, error);
    this.#o.logger.warn(
      {
        consumer: this.#o.consumer,
        messageId: delivery.message.id,
        type: target.envelope?.type,
        attempt: delivery.attempt,
        delayMs,
        err: error,
      },
      "handler failed; retrying",
    );
    await this.retry(target, delayMs, message);
  }

  /** Sends the message back to be delivered again after `delayMs`. */
  async retry(target: SettleTarget, delayMs: number, error: string): Promise<void> {
    await this.#settle(target, "retried", () => target.delivery.retry(delayMs, error), error);
  }

  /** Moves the message to the dead-letter queue with `reason`. */
  async deadLetter(target: SettleTarget, reason: DeadLetterReason): Promise<void> {
    const { delivery } = target;
    this.#o.logger.warn(
      {
        consumer: this.#o.consumer,
        messageId: delivery.message.id,
        topic: delivery.message.topic,
        type: target.envelope?.type,
        attempt: delivery.attempt,
        code: reason.code,
        reason: reason.message,
      },
      "dead-lettering message",
    );
    const settled = await this.#settle(
      target,
      "dead_lettered",
      () => delivery.deadLetter(reason),
      `${reason.code}: ${reason.message}`,
    );
    if (!settled) return;
    this.#o.metrics.deadLettered(reason.code);
    if (target.envelope === undefined) return;
    try {
      await this.#o.afterDeadLetter(target, reason);
    } catch (error) {
      this.#o.logger.warn(
        { consumer: this.#o.consumer, messageId: delivery.message.id, err: error },
        "dead-letter hook failed",
      );
    }
  }

  async #settle(
    target: SettleTarget,
    outcome: ConsumeOutcome,
    settle: () => Promise<void>,
    error?: string,
  ): Promise<boolean> {
    try {
      await settle();
    } catch (cause) {
      // The broker redelivers an unsettled message; the inbox makes that harmless.
      this.#o.logger.warn(
        { consumer: this.#o.consumer, messageId: target.delivery.message.id, outcome, err: cause },
        "could not settle delivery",
      );
      target.span?.end(`${outcome}_failed`, cause instanceof Error ? cause.message : String(cause));
      return false;
    }
    this.#o.metrics.consumed(target.handler?.event.type ?? unknownTypeLabel, outcome);
    target.span?.end(outcome, error);
    return true;
  }
}
