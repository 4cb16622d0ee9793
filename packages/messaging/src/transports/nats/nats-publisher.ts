import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { MessagingError, MessagingErrorCode, PublishFailedError } from "../../errors/messaging-error.js";
import { assertTopic } from "../../transport/topic.js";
import type { OutgoingMessage } from "../../transport/transport.js";
import { isUnreachable } from "./nats-errors.js";
import { assertCarriableHeaders, NatsHeader, natsHeadersOf } from "./nats-headers.js";
import type { NatsSubjects } from "./nats-subjects.js";

/** What a {@link NatsPublisher} needs. */
export interface NatsPublisherContext {
  readonly js: JetStreamClient;
  readonly subjects: NatsSubjects;
  readonly publishTimeout: number;
  /** False while the connection is down: publishes then fail at once instead of timing out. */
  readonly connected: () => boolean;
}

/**
 * Publishes batches to JetStream: each message to `<prefix>.<topic>` with `Nats-Msg-Id` = its id
 * (JetStream drops a second publish of an id within the duplicate window), its key and headers as
 * NATS headers and a delay as a header the consumers honour. All publishes of a batch start at
 * once; their acknowledgements are awaited in order.
 */
export class NatsPublisher {
  readonly #context: NatsPublisherContext;

  constructor(context: NatsPublisherContext) {
    this.#context = context;
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (!Array.isArray(messages)) {
      throw new MessagingError(MessagingErrorCode.ConfigInvalid, "publish expects an array of messages");
    }
    messages.forEach(assertPublishable);
    if (messages.length === 0) return;
    if (!this.#context.connected()) {
      throw new MessagingError(
        MessagingErrorCode.TransportUnavailable,
        "NATS is not connected; the client is reconnecting",
      );
    }
    const { js, subjects, publishTimeout } = this.#context;
    const acks = messages.map((message) => {
      const delay = Math.ceil(message.delayMs ?? 0);
      const headers = natsHeadersOf(message, delay > 0 ? { [NatsHeader.Delay]: String(delay) } : {});
      const ack = js.publish(subjects.topicSubject(message.topic), message.body, {
        msgID: message.id,
        headers,
        timeout: publishTimeout,
      });
      // Awaited in order below; this keeps a later rejection from going unhandled meanwhile.
      ack.catch(() => undefined);
      return ack;
    });
    let published = 0;
    for (const [index, ack] of acks.entries()) {
      await this.#confirmed(ack, messages[index]!, published);
      published += 1;
    }
  }

  async #confirmed(ack: Promise<PubAck>, message: OutgoingMessage, published: number): Promise<void> {
    try {
      await ack;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      if (isUnreachable(error)) {
        throw new MessagingError(
          MessagingErrorCode.TransportUnavailable,
          `NATS did not confirm message ${message.id} (${published} before it confirmed): ${detail}`,
          { cause: error },
        );
      }
      throw new PublishFailedError(
        `JetStream refused message ${message.id} on ${message.topic}: ${detail}`,
        published,
        {
          cause: error,
        },
      );
    }
  }
}

function assertPublishable(message: OutgoingMessage, index: number): void {
  const what = `message ${index}`;
  if (typeof message !== "object" || message === null) {
    throw new MessagingError(MessagingErrorCode.ConfigInvalid, `${what} must be an object`);
  }
  assertTopic(message.topic, `${what} topic`);
  if (typeof message.id !== "string" || message.id.length === 0 || /[\r\n]/.test(message.id)) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `${what} id must be a non-empty one-line string`,
    );
  }
  if (!(message.body instanceof Uint8Array)) {
    throw new MessagingError(MessagingErrorCode.ConfigInvalid, `${what} body must be a Uint8Array`);
  }
  const key = message.key;
  if (key !== undefined && (typeof key !== "string" || key.length === 0 || /[\r\n]/.test(key))) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `${what} key must be a non-empty one-line string`,
    );
  }
  const delay = message.delayMs;
  if (delay !== undefined && (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0)) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `${what} delayMs must be a non-negative number, got ${String(delay)}`,
    );
  }
  assertCarriableHeaders(message.headers, what);
}
