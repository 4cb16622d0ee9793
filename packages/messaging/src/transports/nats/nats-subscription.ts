import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { MessagingLogger } from "../../messaging-logger.js";
import { KeyedSerializer } from "../../transport/keyed-serializer.js";
import { topicMatcher } from "../../transport/topic.js";
import { DeadLetterCode, type SubscribeOptions, type Subscription } from "../../transport/transport.js";
import type { NatsDeadLetters } from "./nats-dead-letters.js";
import { handlerAttempt, remainingDelay } from "./nats-delay.js";
import { NatsDelivery } from "./nats-delivery.js";
import { toMessagingError } from "./nats-errors.js";
import { headerValue, NatsHeader, transportMessageOf } from "./nats-headers.js";
import { NatsPullLoop } from "./nats-pull-loop.js";
import { type NatsSubjects, subjectMatches } from "./nats-subjects.js";
import type { ResolvedNatsTransportOptions } from "./nats-transport-options.js";
import { Semaphore } from "./semaphore.js";

/** What a {@link NatsSubscription} shares with its transport. */
export interface NatsSubscriptionContext {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: NatsSubjects;
  readonly options: ResolvedNatsTransportOptions;
  readonly deadLetters: NatsDeadLetters;
  readonly logger: MessagingLogger;
}

/** How long a message whose handler threw without settling waits before it comes back. */
const handlerErrorRetryMs = 1_000;

/**
 * A subscription on JetStream 2.9, which allows one subject filter per consumer. Patterns that need
 * one filter (`orders.*`) get one durable pull consumer on it; patterns that need several (two
 * topics, or `a.#`, which is `a.>` and `a`) get ONE consumer on the whole prefix (`<prefix>.>`) that
 * acknowledges unseen what no pattern matches — several consumers would deliver one key's messages
 * of different topics out of order. Plus one consumer on the queue's replay subject. All share one
 * `prefetch` limit on running handlers and one {@link KeyedSerializer}, so one key never runs twice
 * at once and keeps its publish order.
 */
export class NatsSubscription implements Subscription {
  readonly queue: string;
  readonly #options: SubscribeOptions;
  readonly #context: NatsSubscriptionContext;
  readonly #filters: readonly string[];
  /** With a consumer on the whole prefix: the patterns a topic must match to be handled. */
  readonly #matchers: ((topic: string) => boolean)[] | undefined;
  readonly #loops: NatsPullLoop[] = [];
  readonly #serializer = new KeyedSerializer();
  readonly #handlers: Semaphore;
  #closing: Promise<void> | undefined;

  constructor(options: SubscribeOptions, context: NatsSubscriptionContext) {
    this.queue = options.queue;
    this.#options = options;
    this.#context = context;
    this.#handlers = new Semaphore(options.prefetch);
    const filters = [...new Set(options.topics.flatMap((topic) => context.subjects.patternFilters(topic)))];
    if (filters.length > 1) this.#matchers = options.topics.map((topic) => topicMatcher(topic));
    const topicFilters = filters.length > 1 ? context.subjects.patternFilters("#") : filters;
    this.#filters = [...topicFilters, context.subjects.replaySubject(options.queue)];
  }

  /** Creates the durable consumers and starts pulling; rejects when a consumer cannot be created. */
  async start(): Promise<void> {
    const { js, subjects, options, logger } = this.#context;
    this.#filters.forEach((filter, index) => {
      const consumer = subjects.consumerName(this.queue, filter);
      const ensureConsumer = () => this.#ensureConsumer(consumer, filter, index === this.#filters.length - 1);
      this.#loops.push(
        new NatsPullLoop({
          js,
          stream: options.stream,
          consumer,
          prefetch: this.#options.prefetch,
          ensureConsumer,
          onMessage: (message) => this.#receive(message, index),
          logger,
        }),
      );
    });
    for (const [index, filter] of this.#filters.entries()) {
      const replay = index === this.#filters.length - 1;
      await this.#ensureConsumer(subjects.consumerName(this.queue, filter), filter, replay);
    }
    for (const loop of this.#loops) loop.start();
    logger.info({ queue: this.queue, filters: this.#filters }, "NATS subscription started");
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.all(this.#loops.map((loop) => loop.stop()));
    await Promise.all(this.#loops.map((loop) => loop.drained()));
    this.#context.logger.info({ queue: this.queue }, "NATS subscription closed");
  }

  async #ensureConsumer(name: string, filter: string, replay: boolean): Promise<void> {
    const { jsm, options } = this.#context;
    try {
      await jsm.consumers.add(options.stream, {
        durable_name: name,
        filter_subject: filter,
        ack_policy: AckPolicy.Explicit,
        // A replay may be published while no subscriber runs; topic consumers start at "now" like a new queue.
        deliver_policy: replay ? DeliverPolicy.All : DeliverPolicy.New,
        ack_wait: nanos(options.ackWait),
        // One more for the early delivery of a delayed message and one for the poison check.
        max_deliver: options.maxDeliver + 2,
        max_ack_pending: Math.max(options.maxAckPending, this.#options.prefetch),
      });
    } catch (error) {
      throw toMessagingError(error, `creating consumer ${name} (${filter}) of queue ${this.queue}`);
    }
  }

  async #receive(raw: JsMsg, filterIndex: number): Promise<void> {
    if (this.#closing !== undefined) {
      raw.nak();
      return;
    }
    if (this.#filters.slice(0, filterIndex).some((filter) => subjectMatches(filter, raw.subject))) {
      raw.ack();
      return;
    }
    const replay = filterIndex === this.#filters.length - 1;
    if (!replay && this.#matchers !== undefined) {
      const topic = this.#context.subjects.topicOf(raw.subject);
      if (topic === undefined || !this.#matchers.some((matches) => matches(topic))) {
        raw.ack();
        return;
      }
    }
    const remaining = remainingDelay(raw, Date.now());
    if (remaining > 0) {
      raw.nak(remaining);
      return;
    }
    const delivery = this.#delivery(raw);
    if (delivery.attempt > this.#context.options.maxDeliver) {
      await delivery.deadLetter({
        code: DeadLetterCode.Poison,
        message: `delivered ${delivery.attempt - 1} times without being settled`,
      });
      return;
    }
    delivery.keepAlive();
    try {
      await this.#serializer.run(delivery.message.key, () => this.#handle(delivery));
    } finally {
      delivery.stopKeepAlive();
    }
  }

  #delivery(raw: JsMsg): NatsDelivery {
    const { subjects, options, deadLetters, logger } = this.#context;
    const topic = headerValue(raw.headers, NatsHeader.Topic) ?? subjects.topicOf(raw.subject) ?? raw.subject;
    const message = transportMessageOf(topic, raw.headers, raw.data, String(raw.seq));
    return new NatsDelivery(raw, message, handlerAttempt(raw), {
      queue: this.queue,
      maxDeliver: options.maxDeliver,
      ackTimeout: options.publishTimeout,
      keepAliveEvery: Math.max(100, Math.floor(options.ackWait / 3)),
      deadLetters,
      logger,
    });
  }

  async #handle(delivery: NatsDelivery): Promise<void> {
    await this.#handlers.acquire();
    try {
      if (this.#closing !== undefined) {
        delivery.release();
        return;
      }
      try {
        await this.#options.handler(delivery);
      } catch (error) {
        if (delivery.settled) {
          this.#context.logger.warn(
            { err: error, queue: this.queue, messageId: delivery.message.id },
            "handler threw after settling its delivery",
          );
          return;
        }
        this.#context.logger.warn(
          { err: error, queue: this.queue, messageId: delivery.message.id, attempt: delivery.attempt },
          "handler threw without settling; retrying the message",
        );
        await delivery.retry(handlerErrorRetryMs, error instanceof Error ? error.message : String(error));
        return;
      }
      if (!delivery.settled) {
        this.#context.logger.warn(
          { queue: this.queue, messageId: delivery.message.id },
          "handler returned without settling; JetStream redelivers the message after ackWait",
        );
      }
    } finally {
      this.#handlers.release();
    }
  }
}
