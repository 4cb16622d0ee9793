import { Connection } from "rabbitmq-client";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { MessagingLogger } from "../../messaging-logger.js";
import { assertSubscribeOptions } from "../../transport/assert-subscribe-options.js";
import { assertTopic } from "../../transport/topic.js";
import type {
  DeadLetterAdmin,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  Transport,
} from "../../transport/transport.js";
import { type AmqpOutgoing, ConfirmedPublisher } from "./rabbitmq-confirmed-publisher.js";
import { RabbitMqConnectionState } from "./rabbitmq-connection-state.js";
import { RabbitMqDeadLetterAdmin } from "./rabbitmq-dead-letter-admin.js";
import { FlotillaHeader, toAmqpBody, toAmqpEnvelope } from "./rabbitmq-message.js";
import { RabbitMqSubscription } from "./rabbitmq-subscription.js";
import { RabbitMqTopology } from "./rabbitmq-topology.js";
import {
  amqpNamePattern,
  parseRabbitMqTransportOptions,
  type RabbitMqTransportOptions,
  type ResolvedRabbitMqTransportOptions,
  redact,
} from "./rabbitmq-transport-options.js";

/** Longest subscription queue name (AMQP allows 255; the retry queues add a suffix). */
const maxQueueLength = 200;

/**
 * A {@link Transport} over RabbitMQ (`rabbitmq-client`): a durable topic exchange, one durable
 * queue per subscription (quorum by default), publisher confirms, manual acks with prefetch,
 * delayed retries and delayed publishes through per-delay TTL queues that dead-letter back, a
 * dead-letter exchange and queue per subscription, and automatic reconnection that declares the
 * topology again and resumes the consumers. See {@link RabbitMqTopology} for every name it uses.
 *
 * Delivery is at least once: a message unacked when the connection drops is delivered again
 * with a higher `attempt`.
 *
 * @example
 * ```ts
 * const transport = rabbitmqTransport({ url: "amqp://guest:guest@localhost:5672", exchange: "shop" });
 * await transport.subscribe({
 *   queue: "billing",
 *   topics: ["orders.*"],
 *   prefetch: 10,
 *   handler: async (delivery) => {
 *     await bill(delivery.message);
 *     await delivery.ack();
 *   },
 * });
 * await transport.publish([{ id: randomUUID(), topic: "orders.placed", key: orderId, body }]);
 * ```
 */
export class RabbitMqTransport implements Transport {
  readonly kind = "rabbitmq";
  readonly deadLetters: DeadLetterAdmin;
  readonly #options: ResolvedRabbitMqTransportOptions;
  readonly #logger: MessagingLogger;
  readonly #connection: Connection;
  readonly #state: RabbitMqConnectionState;
  readonly #topology: RabbitMqTopology;
  readonly #publisher: ConfirmedPublisher;
  readonly #subscriptions = new Set<RabbitMqSubscription>();
  readonly #knownQueues = new Set<string>();
  #closing: Promise<void> | undefined;

  /** Connects lazily: the connection opens now and reconnects by itself; nothing here waits on it. */
  constructor(options: RabbitMqTransportOptions = {}) {
    this.#options = parseRabbitMqTransportOptions(options);
    const { url, exchange, retryDelaysMs, queueType, publishTimeoutMs, logger } = this.#options;
    this.#logger = logger;
    this.#topology = new RabbitMqTopology(exchange, retryDelaysMs, queueType);
    this.#connection = new Connection({
      url,
      connectionName: this.#options.connectionName,
      retryLow: this.#options.reconnectMinMs,
      retryHigh: this.#options.reconnectMaxMs,
    });
    const server = redact(url);
    // Without an "error" listener an EventEmitter error would crash the process.
    this.#connection.on("error", (err: unknown) =>
      logger.warn({ err, server }, "RabbitMQ connection lost or refused; reconnecting"),
    );
    this.#connection.on("connection", () => logger.info({ server }, "RabbitMQ connected"));
    this.#connection.on("connection.blocked", (reason: string) =>
      logger.warn({ server, reason }, "RabbitMQ blocked publishing (low on resources)"),
    );
    this.#state = new RabbitMqConnectionState(this.#connection);
    this.#publisher = new ConfirmedPublisher(this.#state, this.#topology.publishing(), publishTimeoutMs);
    this.deadLetters = new RabbitMqDeadLetterAdmin({
      connection: this.#connection,
      topology: this.#topology,
      publisher: this.#publisher,
      knownQueues: () => this.#knownQueues,
      timeoutMs: publishTimeoutMs,
    });
  }

  /**
   * The subscription queues this transport declared (each with its `.retry.<ms>` and `.dead`
   * queues): what `deadLetters.list()` without a queue looks at.
   */
  get queues(): readonly string[] {
    return [...this.#knownQueues];
  }

  /** Every exchange and queue this transport may have declared, for tear-down. */
  get declaredNames(): { readonly exchanges: readonly string[]; readonly queues: readonly string[] } {
    return this.#topology.names(this.queues);
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen();
    if (!Array.isArray(messages)) {
      throw new MessagingError(MessagingErrorCode.ConfigInvalid, "publish expects an array of messages");
    }
    const outgoing = messages.map((message, index) => this.#toOutgoing(message, index));
    await this.#publisher.send(outgoing);
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    assertAmqpSubscribeOptions(options);
    this.#knownQueues.add(options.queue);
    const subscription = await RabbitMqSubscription.start({
      state: this.#state,
      topology: this.#topology,
      options,
      timeoutMs: this.#options.publishTimeoutMs,
      logger: this.#logger,
      onClosed: (closed) => this.#subscriptions.delete(closed),
    });
    if (this.#closing !== undefined) {
      await subscription.close();
      this.#assertOpen();
    }
    this.#subscriptions.add(subscription);
    return subscription;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#subscriptions].map((subscription) => subscription.close()));
    await this.#publisher.close();
    await this.#connection.close().catch((err: unknown) => {
      this.#logger.warn({ err }, "closing the RabbitMQ connection failed");
    });
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) {
      throw new MessagingError(MessagingErrorCode.Closed, "the RabbitMQ transport is closed");
    }
  }

  #toOutgoing(message: OutgoingMessage, index: number): AmqpOutgoing {
    const at = `messages[${index}]`;
    if (typeof message !== "object" || message === null) {
      throw new MessagingError(MessagingErrorCode.ConfigInvalid, `${at} must be a message object`);
    }
    assertTopic(message.topic, `${at}.topic`);
    if (typeof message.id !== "string" || message.id === "" || message.id.length > 255) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `${at}.id must be a string of 1 to 255 characters`,
      );
    }
    if (!(message.body instanceof Uint8Array)) {
      throw new MessagingError(MessagingErrorCode.ConfigInvalid, `${at}.body must be a Uint8Array`);
    }
    if (message.key !== undefined && typeof message.key !== "string") {
      throw new MessagingError(MessagingErrorCode.ConfigInvalid, `${at}.key must be a string`);
    }
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      if (typeof value !== "string") {
        throw new MessagingError(MessagingErrorCode.ConfigInvalid, `${at}.headers.${name} must be a string`);
      }
    }
    const delayMs = message.delayMs ?? 0;
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `${at}.delayMs must be a finite number of milliseconds from 0, got ${String(delayMs)}`,
      );
    }
    const body = toAmqpBody(message.body);
    if (delayMs === 0) {
      return {
        envelope: toAmqpEnvelope(message, { exchange: this.#topology.exchange, routingKey: message.topic }),
        body,
      };
    }
    const rung = this.#topology.rung(delayMs);
    const extra = rung < delayMs ? { [FlotillaHeader.NotBefore]: Date.now() + delayMs } : {};
    return {
      envelope: toAmqpEnvelope(
        message,
        { exchange: this.#topology.delayExchange(rung), routingKey: message.topic },
        extra,
      ),
      body,
    };
  }
}

/** The shared checks, plus what AMQP adds: queue names short enough for the `.retry.<ms>` and `.dead` queues. */
function assertAmqpSubscribeOptions(options: SubscribeOptions): void {
  assertSubscribeOptions(options);
  const { queue } = options;
  if (!amqpNamePattern.test(queue) || queue.length > maxQueueLength) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `queue must be 1 to ${maxQueueLength} letters, digits, ".", "_" or "-", got ${JSON.stringify(queue)}`,
    );
  }
}

/**
 * Creates a {@link RabbitMqTransport}; throws `FLT_MESSAGING_CONFIG_INVALID` naming every bad option.
 *
 * @example
 * ```ts
 * const transport = rabbitmqTransport({ url: process.env.AMQP_URL, exchange: "shop", queueType: "quorum" });
 * ```
 */
export function rabbitmqTransport(options: RabbitMqTransportOptions = {}): RabbitMqTransport {
  return new RabbitMqTransport(options);
}
