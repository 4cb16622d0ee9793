/**
 * The narrow interface between Flotilla's messaging (outbox relay, consumers, request/reply,
 * dead-letter admin) and a broker. Transports move opaque bytes; envelopes, schemas, the inbox
 * and retry decisions live above them. Every transport passes the same conformance suite.
 */

/** One message as a transport carries it. */
export interface TransportMessage {
  /** The envelope id: unique per message, the broker's de-duplication id where it has one. */
  readonly id: string;
  /** Dot-separated words (see `assertTopic`); subscriptions match on it. */
  readonly topic: string;
  /** Partition key: messages with the same key reach a subscription's handler in publish order. */
  readonly key?: string;
  /** Small string metadata the transport carries beside the body (not the envelope's attributes). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The encoded envelope. */
  readonly body: Uint8Array;
}

/** A message to publish, optionally held back. */
export interface OutgoingMessage extends TransportMessage {
  /** Deliver no earlier than this many milliseconds from now. Default 0. */
  readonly delayMs?: number;
}

/** Why a message went to the dead-letter queue. */
export const DeadLetterCode = {
  /** Not a valid envelope (bad JSON, missing attributes). */
  Malformed: "malformed",
  /** Over the size limit. */
  TooLarge: "too-large",
  /** No handler for the event type. */
  UnknownType: "unknown-type",
  /** `data` failed the event's schema. */
  Invalid: "invalid",
  /** The handler threw a `PermanentError`. */
  Permanent: "permanent",
  /** Every allowed attempt failed with a transient error. */
  MaxAttempts: "max-attempts",
  /** Delivered more times than allowed without an outcome (the handler crashed the process). */
  Poison: "poison",
} as const;

/** One of {@link DeadLetterCode}'s values. */
export type DeadLetterCode = (typeof DeadLetterCode)[keyof typeof DeadLetterCode];

/** The reason recorded with a dead letter. */
export interface DeadLetterReason {
  readonly code: DeadLetterCode;
  /** The error, readable: the validation issues, the handler's message. */
  readonly message: string;
}

/** One delivery of a message to a subscription's handler. Settle it exactly once. */
export interface Delivery {
  readonly message: TransportMessage;
  /** 1 for the first delivery; counts retries and redeliveries after a crash or lost connection. */
  readonly attempt: number;
  /** Removes the message from the queue. */
  ack(): Promise<void>;
  /** Delivers the message again to this subscription after `delayMs`, with `attempt` + 1. */
  retry(delayMs: number, error: string): Promise<void>;
  /** Moves the message to the dead-letter queue of this subscription, with the reason. */
  deadLetter(reason: DeadLetterReason): Promise<void>;
}

/** What to consume and how. */
export interface SubscribeOptions {
  /**
   * Durable name of the consumer group: a queue (RabbitMQ), a durable consumer (JetStream), a
   * queue in the bus tables (PostgreSQL). Several subscribers with one name share the messages.
   * Letters, digits, `.`, `_` and `-`.
   */
  readonly queue: string;
  /** Topic patterns to receive (`orders.*`, `orders.#`); see `assertTopicPattern`. */
  readonly topics: readonly string[];
  /** Most deliveries unsettled at once (the prefetch / max-ack-pending). */
  readonly prefetch: number;
  /**
   * Called once per delivery, with up to `prefetch` calls running at once; never two at once for
   * one partition key. The handler settles the delivery itself; if it throws instead, the
   * transport retries the message after a short delay.
   */
  readonly handler: (delivery: Delivery) => Promise<void>;
}

/** A running subscription. */
export interface Subscription {
  readonly queue: string;
  /** Stops receiving, waits for the handlers running now to finish, settles nothing new. */
  close(): Promise<void>;
}

/** A message in a dead-letter queue. */
export interface DeadLetter {
  /** The transport's handle for this entry; stable until it is replayed or purged. */
  readonly id: string;
  /** The subscription (queue) it was dead-lettered from; a replay goes back there. */
  readonly queue: string;
  readonly message: TransportMessage;
  readonly reason: DeadLetterReason;
  /** Deliveries made before it was dead-lettered. */
  readonly attempts: number;
  readonly deadLetteredAt: Date;
}

/** Which dead letters a bulk operation touches. */
export type DeadLetterSelection = { readonly ids: readonly string[] } | { readonly queue: string };

/** Inspect, replay and purge dead letters: the API the `flotilla dlq` command calls. */
export interface DeadLetterAdmin {
  /** Oldest first; `queue` narrows to one subscription; `limit` defaults to 100. */
  list(options?: { readonly queue?: string; readonly limit?: number }): Promise<DeadLetter[]>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Sends the selected messages back to their queue as new first attempts; returns how many. */
  replay(selection: DeadLetterSelection): Promise<number>;
  /** Deletes the selected dead letters; returns how many. */
  purge(selection: DeadLetterSelection): Promise<number>;
}

/** A broker connection that publishes, subscribes and keeps dead letters. */
export interface Transport {
  /** `postgres`, `rabbitmq`, `nats`, `memory`. */
  readonly kind: string;
  /**
   * Publishes the messages in order and resolves once the broker has durably accepted every one
   * (publisher confirms, JetStream acks, a commit). Rejects with a `PublishFailedError` whose
   * `published` counts the leading messages that were accepted; or `FLT_MESSAGING_TRANSPORT_UNAVAILABLE`
   * while the broker cannot be reached. Publishing the same `id` twice may deliver it twice.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Declares what the subscription needs (queues, bindings, consumers) and starts delivering. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  readonly deadLetters: DeadLetterAdmin;
  /** Closes subscriptions (see {@link Subscription.close}) and the connection. Idempotent. */
  close(): Promise<void>;
}
