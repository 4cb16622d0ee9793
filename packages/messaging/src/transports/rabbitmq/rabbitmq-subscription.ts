import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { type AsyncMessage, type Consumer, ConsumerStatus } from "rabbitmq-client";
import type { MessagingLogger } from "../../messaging-logger.js";
import { KeyedSerializer } from "../../transport/keyed-serializer.js";
import type { DeadLetterReason, SubscribeOptions, Subscription } from "../../transport/transport.js";
import { ConfirmedPublisher } from "./rabbitmq-confirmed-publisher.js";
import type { RabbitMqConnectionState } from "./rabbitmq-connection-state.js";
import { type DeliverySettler, RabbitMqDelivery } from "./rabbitmq-delivery.js";
import {
  FlotillaHeader,
  fromAmqpMessage,
  headerText,
  numberHeader,
  type ReceivedAmqpMessage,
  toAmqpBody,
  toAmqpEnvelope,
} from "./rabbitmq-message.js";
import type { RabbitMqTopology, TopologyPart } from "./rabbitmq-topology.js";
import { declareTopology, withTimeout } from "./rabbitmq-topology-declarer.js";

/** What a {@link RabbitMqSubscription} is made of. */
export interface RabbitMqSubscriptionDeps {
  readonly state: RabbitMqConnectionState;
  readonly topology: RabbitMqTopology;
  readonly options: SubscribeOptions;
  /** Bound on declaring, starting, and on each retry or dead-letter publish. */
  readonly timeoutMs: number;
  readonly logger: MessagingLogger;
  /** Called once the subscription has closed. */
  readonly onClosed: (subscription: RabbitMqSubscription) => void;
}

/**
 * A subscription's consumer on its queue. `rabbitmq-client` re-declares the queue, exchange and
 * bindings and consumes again after every reconnection; deliveries unacked at the cut come back
 * (as redeliveries, so with a higher `attempt`). Handlers run through a {@link KeyedSerializer},
 * so up to `prefetch` run at once but never two for one key.
 */
export class RabbitMqSubscription implements Subscription, DeliverySettler {
  readonly queue: string;
  readonly #deps: RabbitMqSubscriptionDeps;
  readonly #publisher: ConfirmedPublisher;
  readonly #serializer = new KeyedSerializer();
  readonly #running = new Set<Promise<void>>();
  #consumer: Consumer | undefined;
  #closing: Promise<void> | undefined;

  private constructor(deps: RabbitMqSubscriptionDeps, support: TopologyPart) {
    this.queue = deps.options.queue;
    this.#deps = deps;
    this.#publisher = new ConfirmedPublisher(deps.state, support, deps.timeoutMs);
  }

  /**
   * Declares the queue, its bindings, retry ladder and dead-letter queue (so a mismatch surfaces
   * here as an error), then starts consuming and resolves once the consumer is ready.
   */
  static async start(deps: RabbitMqSubscriptionDeps): Promise<RabbitMqSubscription> {
    const { topology, options } = deps;
    const { connection } = deps.state;
    const main = topology.subscription(options.queue, options.topics);
    const support = topology.subscriptionSupport(options.queue);
    await declareTopology(connection, [main, support], deps.timeoutMs);

    const subscription = new RabbitMqSubscription(deps, support);
    const [queue] = main.queues;
    const consumer = connection.createConsumer(
      {
        queue: options.queue,
        queueOptions: { durable: true, arguments: queue!.arguments },
        qos: { prefetchCount: options.prefetch },
        concurrency: options.prefetch,
        requeue: true,
        exchanges: main.exchanges,
        queueBindings: main.bindings,
        lazy: true,
      },
      (msg) => subscription.#onMessage(msg),
    );
    subscription.#consumer = consumer;
    consumer.on("error", (err: unknown) =>
      deps.logger.warn({ err, queue: options.queue }, "RabbitMQ consumer error; it recovers by itself"),
    );
    consumer.on("ready", () => deps.logger.debug({ queue: options.queue }, "RabbitMQ consumer ready"));
    const ready = once(consumer, "ready");
    consumer.start();
    try {
      await withTimeout(ready, deps.timeoutMs, `starting the consumer on queue ${options.queue}`);
    } catch (error) {
      await subscription.close();
      throw error;
    }
    return subscription;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async retry(received: ReceivedAmqpMessage, attempt: number, delayMs: number, error: string): Promise<void> {
    await this.#sendToRetry(received, delayMs, { [FlotillaHeader.Attempt]: attempt }, error);
  }

  async deadLetter(received: ReceivedAmqpMessage, attempts: number, reason: DeadLetterReason): Promise<void> {
    const { topology } = this.#deps;
    const envelope = toAmqpEnvelope(
      received.message,
      { exchange: topology.deadExchange, routingKey: this.queue },
      {
        [FlotillaHeader.DeadLetterId]: randomUUID(),
        [FlotillaHeader.DeadQueue]: this.queue,
        [FlotillaHeader.DeadCode]: reason.code,
        [FlotillaHeader.DeadMessage]: headerText(reason.message),
        [FlotillaHeader.DeadAttempts]: attempts,
        [FlotillaHeader.DeadAt]: new Date().toISOString(),
      },
    );
    await this.#publisher.send([{ envelope, body: toAmqpBody(received.message.body) }]);
    this.#deps.logger.info(
      { queue: this.queue, messageId: received.message.id, code: reason.code, attempts },
      "message dead-lettered",
    );
  }

  async #sendToRetry(
    received: ReceivedAmqpMessage,
    delayMs: number,
    headers: Record<string, string | number>,
    error: string | undefined,
  ): Promise<void> {
    const { topology } = this.#deps;
    const rung = topology.rung(delayMs);
    const extra: Record<string, string | number> = { ...headers };
    // Only a wait longer than the largest rung needs the deadline (and another trip on arrival).
    if (rung < delayMs) extra[FlotillaHeader.NotBefore] = Date.now() + delayMs;
    if (error !== undefined) extra[FlotillaHeader.LastError] = headerText(error);
    const envelope = toAmqpEnvelope(
      received.message,
      { exchange: "", routingKey: topology.retryQueue(this.queue, rung) },
      extra,
    );
    await this.#publisher.send([{ envelope, body: toAmqpBody(received.message.body) }]);
  }

  async #onMessage(msg: AsyncMessage): Promise<ConsumerStatus> {
    const received = fromAmqpMessage(msg);
    const headers = received.rawHeaders;
    const notBefore = numberHeader(headers, FlotillaHeader.NotBefore);
    const early = notBefore === undefined ? 0 : notBefore - Date.now();
    if (early > 0) return this.#delayAgain(received, early);

    const attempt =
      (numberHeader(headers, FlotillaHeader.Attempt) ?? 1) +
      (numberHeader(headers, "x-delivery-count") ?? (msg.redelivered ? 1 : 0));
    const delivery = new RabbitMqDelivery(received, attempt, this);
    const run = this.#serializer.run(received.message.key, () => this.#runHandler(delivery));
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
    return delivery.outcome;
  }

  async #delayAgain(received: ReceivedAmqpMessage, remainingMs: number): Promise<ConsumerStatus> {
    const kept: Record<string, string | number> = {};
    const attempt = numberHeader(received.rawHeaders, FlotillaHeader.Attempt);
    if (attempt !== undefined) kept[FlotillaHeader.Attempt] = attempt;
    try {
      await this.#sendToRetry(received, remainingMs, kept, undefined);
      return ConsumerStatus.ACK;
    } catch (err) {
      this.#deps.logger.warn(
        { err, queue: this.queue, messageId: received.message.id },
        "could not delay a message again; requeued",
      );
      return ConsumerStatus.REQUEUE;
    }
  }

  async #runHandler(delivery: RabbitMqDelivery): Promise<void> {
    const { logger, options, topology } = this.#deps;
    const fields = { queue: this.queue, messageId: delivery.message.id, attempt: delivery.attempt };
    let failure: string;
    try {
      await options.handler(delivery);
      if (delivery.settled) return;
      failure = "the handler returned without settling the delivery";
      logger.warn(fields, `${failure}; retrying it`);
    } catch (err) {
      if (delivery.settled) {
        logger.warn({ ...fields, err }, "handler failed after settling its delivery");
        return;
      }
      failure = err instanceof Error ? err.message : String(err);
      logger.warn({ ...fields, err }, "handler failed without settling; retrying the message");
    }
    try {
      await delivery.retry(topology.rung(0), failure);
    } catch (err) {
      logger.error({ ...fields, err }, "could not retry the message; it was requeued");
    }
  }

  async #close(): Promise<void> {
    try {
      await this.#consumer?.close();
      await Promise.allSettled([...this.#running]);
      await this.#publisher.close();
    } finally {
      this.#deps.onClosed(this);
    }
  }
}
