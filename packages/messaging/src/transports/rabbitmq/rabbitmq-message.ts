import type { AsyncMessage, Envelope, SyncMessage } from "rabbitmq-client";
import type { TransportMessage } from "../../transport/transport.js";

/** The AMQP headers the RabbitMQ transport sets; user headers never start with `x-flotilla-`. */
export const FlotillaHeader = {
  /** The partition key. */
  Key: "x-flotilla-key",
  /** The topic, kept because retries and replays travel with a queue name as routing key. */
  Topic: "x-flotilla-topic",
  /** 1 + the retries so far, set on a retry; absent on a first publish. */
  Attempt: "x-flotilla-attempt",
  /** Epoch milliseconds before which the message must not reach a handler. */
  NotBefore: "x-flotilla-not-before",
  /** The last error a retry was asked with. */
  LastError: "x-flotilla-last-error",
  /** A dead letter's unique id. */
  DeadLetterId: "x-flotilla-dead-letter-id",
  /** The subscription queue a dead letter came from. */
  DeadQueue: "x-flotilla-dead-queue",
  /** A {@link DeadLetterCode}. */
  DeadCode: "x-flotilla-dead-code",
  /** The readable reason. */
  DeadMessage: "x-flotilla-dead-message",
  /** Deliveries made before dead-lettering. */
  DeadAttempts: "x-flotilla-dead-attempts",
  /** ISO 8601 time of dead-lettering. */
  DeadAt: "x-flotilla-dead-at",
} as const;

/** The content type of every message the transport publishes. */
export const amqpContentType = "application/cloudevents+json";

/** Longest header text the transport writes (reasons and errors are cut to it). */
const maxHeaderText = 4_096;

// Headers the broker adds (dead-lettering, quorum redelivery, sender-selected routing).
const brokerHeaders = /^(x-flotilla-|x-death$|x-delivery-count$|x-first-death-|x-last-death-|CC$|BCC$)/;

/** Cuts `text` to a size the transport is willing to put in a header. */
export function headerText(text: string): string {
  return text.length <= maxHeaderText ? text : `${text.slice(0, maxHeaderText - 1)}…`;
}

/**
 * The AMQP properties of `message`: id as `messageId`, persistent, the CloudEvents content type,
 * user headers, the key and topic, plus `extra` transport headers.
 */
export function toAmqpEnvelope(
  message: TransportMessage,
  target: { readonly exchange: string; readonly routingKey: string },
  extra: Readonly<Record<string, string | number>> = {},
): Envelope {
  const headers: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (!brokerHeaders.test(name)) headers[name] = value;
  }
  headers[FlotillaHeader.Topic] = message.topic;
  if (message.key !== undefined) headers[FlotillaHeader.Key] = message.key;
  Object.assign(headers, extra);
  return {
    exchange: target.exchange,
    routingKey: target.routingKey,
    messageId: message.id,
    contentType: amqpContentType,
    durable: true,
    headers,
  };
}

/** The body as the `Buffer` `rabbitmq-client` sends unchanged (any other value it would JSON-encode). */
export function toAmqpBody(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** A received AMQP message, read back. */
export interface ReceivedAmqpMessage {
  readonly message: TransportMessage;
  /** Every AMQP header as received, for re-publishing. */
  readonly rawHeaders: Readonly<Record<string, unknown>>;
}

/** Reads a delivered or fetched AMQP message back into a {@link TransportMessage}. */
export function fromAmqpMessage(msg: AsyncMessage | SyncMessage): ReceivedAmqpMessage {
  const rawHeaders: Record<string, unknown> = msg.headers ?? {};
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(rawHeaders)) {
    if (typeof value === "string" && !brokerHeaders.test(name)) headers[name] = value;
  }
  const topic = stringHeader(rawHeaders, FlotillaHeader.Topic) ?? msg.routingKey;
  const key = stringHeader(rawHeaders, FlotillaHeader.Key);
  const message: TransportMessage = {
    id: msg.messageId ?? "",
    topic,
    ...(key === undefined ? {} : { key }),
    headers,
    body: bodyBytes(msg.body),
  };
  return { message, rawHeaders };
}

/** A string header, or `undefined`. */
export function stringHeader(headers: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = headers[name];
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  return undefined;
}

/** A numeric header (AMQP integers of any width, or a numeric string), or `undefined`. */
export function numberHeader(headers: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const value = headers[name];
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof number === "number" && Number.isFinite(number)) return number;
  if (typeof number === "bigint") return Number(number);
  return undefined;
}

function bodyBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  // rabbitmq-client decodes text/plain and application/json bodies from other publishers.
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.from(JSON.stringify(body ?? null), "utf8");
}
