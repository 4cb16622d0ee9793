import { ConfigReader, sleep } from "@flotilla/resilience";
import { context as otelContext } from "@opentelemetry/api";
import type { PoolClient } from "pg";
import type { Envelope } from "../envelope/envelope.js";
import { encodeEnvelope } from "../envelope/envelope-codec.js";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { MessagingLogger } from "../messaging-logger.js";
import type { DeadLetterReason, Delivery, OutgoingMessage, Subscription } from "../transport/transport.js";
import { BatchQueue } from "./batch-queue.js";
import { ConsumerMetrics } from "./consumer-metrics.js";
import {
  type ConsumerOptions,
  parseConsumerOptions,
  type ResolvedConsumerOptions,
} from "./consumer-options.js";
import { ConsumerSpan } from "./consumer-span.js";
import { checkDelivery, type DeliveryRules } from "./delivery-check.js";
import { DeliverySettler, type SettleTarget } from "./delivery-settler.js";
import type { EnvelopeSink } from "./envelope-sink.js";
import type { EventHandler } from "./event-handler.js";
import { InboxSweeper } from "./inbox-sweeper.js";
import { inboxTransaction } from "./inbox-transaction.js";
import type { MessageContext } from "./message-context.js";

/** A delivery whose handler may run. */
interface Job extends SettleTarget {
  readonly envelope: Envelope;
  readonly handler: EventHandler;
  readonly span: ConsumerSpan;
  /** Messages the handler produced, published after the commit (no outbox). */
  readonly outgoing: OutgoingMessage[];
}

/**
 * Consumes messages from a transport and runs their handlers, with exactly-once effects when it
 * has a database. For each delivery it decodes and checks the envelope (bad input is
 * dead-lettered with its reason and consuming goes on), then — with `db` — handles the deliveries
 * that arrived together in one inbox transaction (see `inboxTransaction`): a message whose id
 * the inbox already holds is acknowledged without running its handler. Deliveries are
 * acknowledged only after the commit. A handler's `PermanentError` dead-letters its message at
 * once; other errors retry it after `retry.backoff` until `retry.maxAttempts`. While the database
 * is unreachable the batch is tried again with backoff and its deliveries stay unsettled (the
 * prefetch stops further deliveries), so an outage never dead-letters anything. Each message is
 * processed in a CONSUMER span continuing the producer's trace.
 *
 * Throughput comes from batching: the transport has up to `prefetch` deliveries in flight and
 * `batch.concurrency` transactions share them, so raise `prefetch` (e.g. 128–256) for bulk work.
 *
 * @example
 * ```ts
 * const billing = consumer({
 *   name: "billing",
 *   transport,
 *   db: pool,
 *   handlers: [
 *     on(orderPlaced, async (event, { tx }) => {
 *       await tx!.query("INSERT INTO invoices (order_id) VALUES ($1)", [event.data.orderId]);
 *     }),
 *   ],
 * });
 * await billing.start();
 * // … on shutdown
 * await billing.close();
 * ```
 */
export class Consumer {
  readonly #o: ResolvedConsumerOptions;
  readonly #rules: DeliveryRules;
  readonly #metrics: ConsumerMetrics;
  readonly #settler: DeliverySettler;
  readonly #batches: BatchQueue<Job>;
  readonly #sweeper: InboxSweeper | undefined;
  readonly #closing = new AbortController();
  #subscription: Subscription | undefined;
  #starting: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #outage = 0;

  /** Validates `options`; throws a `ConfigError` listing every bad option with its path. */
  constructor(options: ConsumerOptions) {
    const reader = new ConfigReader();
    this.#o = parseConsumerOptions(options, reader);
    reader.throwIfInvalid();
    const { name, handlers, maxAttempts, maxMessageBytes, logger, db, retention } = this.#o;
    this.#rules = { consumer: name, handlers, maxAttempts, maxMessageBytes };
    this.#metrics = new ConsumerMetrics(name, this.#o.registry);
    this.#settler = new DeliverySettler({
      consumer: name,
      maxAttempts,
      delay: (attempt, error) => this.#delay(attempt, error),
      logger,
      metrics: this.#metrics,
      afterDeadLetter: (target, reason) => this.#afterDeadLetter(target, reason),
    });
    this.#batches = new BatchQueue({
      process: (jobs) => this.#processBatch(jobs),
      maxSize: this.#o.batchSize,
      concurrency: this.#o.batchConcurrency,
    });
    if (db !== undefined && retention !== undefined) {
      this.#sweeper = new InboxSweeper({
        inbox: this.#o.inbox,
        db,
        ...retention,
        clock: this.#o.clock,
        logger,
        consumer: name,
      });
    }
  }

  /** The consumer group (queue) name. */
  get name(): string {
    return this.#o.name;
  }

  /**
   * Installs the inbox table (with `db`) and subscribes. Idempotent; after a failure it may be
   * called again. Rejects with the database's or transport's error when either cannot be
   * reached, and with `FLT_MESSAGING_CLOSED` after {@link Consumer.close}.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.#closed !== undefined) {
      throw new MessagingError(MessagingErrorCode.Closed, `consumer "${this.#o.name}" is closed`);
    }
    if (this.#o.db !== undefined) await this.#o.inbox.install(this.#o.db);
    this.#subscription = await this.#o.transport.subscribe({
      queue: this.#o.name,
      topics: this.#o.topics,
      prefetch: this.#o.prefetch,
      handler: (delivery) => this.#receive(delivery),
    });
    this.#sweeper?.start();
    const { name, topics, prefetch, db } = this.#o;
    this.#o.logger.info({ consumer: name, topics, prefetch, inbox: db !== undefined }, "consumer started");
  }

  /**
   * Stops taking deliveries and waits for the running handlers and their transactions to finish
   * (their `signal` is aborted so long ones can stop early). Idempotent; does not close the
   * transport or the pool, which the caller owns.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing.abort(
      new MessagingError(MessagingErrorCode.Closed, `consumer "${this.#o.name}" is closing`),
    );
    await this.#starting?.catch(() => undefined);
    await this.#subscription?.close();
    await this.#sweeper?.stop();
    this.#o.logger.info({ consumer: this.#o.name }, "consumer closed");
  }

  async #receive(delivery: Delivery): Promise<void> {
    try {
      const checked = checkDelivery(delivery, this.#rules);
      if (!checked.accepted) {
        const { envelope, handler, reason } = checked;
        const span = envelope && new ConsumerSpan(this.#spanTarget(delivery), envelope);
        await this.#settler.deadLetter({ delivery, envelope, handler, span }, reason);
        return;
      }
      const job: Job = {
        delivery,
        envelope: checked.envelope,
        handler: checked.handler,
        span: new ConsumerSpan(this.#spanTarget(delivery), checked.envelope),
        outgoing: [],
      };
      if (this.#o.db === undefined) await this.#processAlone(job);
      else await this.#batches.add(job);
    } catch (error) {
      // Only a bug gets here; retrying keeps the message rather than losing it or crashing the transport.
      this.#o.logger.error(
        { consumer: this.#o.name, messageId: delivery.message.id, err: error },
        "consumer failed",
      );
      await this.#settler.retry({ delivery }, this.#delay(delivery.attempt, error), String(error));
    }
  }

  async #processAlone(job: Job): Promise<void> {
    try {
      await this.#runHandler(job, undefined);
    } catch (error) {
      await this.#settler.failed(job, error);
      return;
    }
    await this.#publishOutgoing([job]);
    await this.#settler.ack(job, "acked");
  }

  async #processBatch(jobs: Job[]): Promise<void> {
    for (;;) {
      let outcomes: Awaited<ReturnType<typeof inboxTransaction>>;
      try {
        outcomes = await inboxTransaction({
          db: this.#o.db!,
          inbox: this.#o.inbox,
          consumer: this.#o.name,
          ids: jobs.map((job) => job.envelope.id),
          run: (index, tx) => this.#runHandler(jobs[index]!, tx),
        });
      } catch (error) {
        if (await this.#waitForDatabase(jobs, error)) continue;
        return;
      }
      this.#recovered();
      await this.#publishOutgoing(jobs.filter((_, index) => outcomes[index]!.kind === "done"));
      await Promise.all(
        outcomes.map((outcome, index) => {
          const job = jobs[index]!;
          if (outcome.kind === "failed") return this.#settler.failed(job, outcome.error);
          return this.#settler.ack(job, outcome.kind === "done" ? "acked" : "duplicate");
        }),
      );
      return;
    }
  }

  /**
   * Logs the outage and waits before the batch is tried again. Returns false when the consumer
   * is closing: the batch's deliveries are then retried through the transport.
   */
  async #waitForDatabase(jobs: readonly Job[], error: unknown): Promise<boolean> {
    this.#outage++;
    const fields = { consumer: this.#o.name, messages: jobs.length, err: error };
    if (this.#outage === 1) this.#o.logger.warn(fields, "inbox database unavailable; holding deliveries");
    else this.#o.logger.debug({ ...fields, tries: this.#outage }, "inbox database still unavailable");
    const delay = this.#delay(this.#outage, error);
    try {
      await sleep(delay, this.#o.clock, this.#closing.signal);
      return true;
    } catch {
      const message = `inbox database unavailable: ${(error as Error).message}`;
      await Promise.all(jobs.map((job) => this.#settler.retry(job, delay, message)));
      return false;
    }
  }

  #recovered(): void {
    if (this.#outage === 0) return;
    this.#o.logger.info({ consumer: this.#o.name, tries: this.#outage }, "inbox database available again");
    this.#outage = 0;
  }

  async #runHandler(job: Job, tx: PoolClient | undefined): Promise<void> {
    const started = this.#o.clock.now();
    // What an earlier run of this handler produced was rolled back with it.
    job.outgoing.length = 0;
    try {
      await otelContext.with(job.span.context, () =>
        job.handler.run(job.envelope, this.#context(job, tx), this.#sink(job, tx)),
      );
    } catch (error) {
      job.span.recordError(error);
      throw error;
    } finally {
      this.#metrics.handled(job.handler.event.type, (this.#o.clock.now() - started) / 1000);
    }
  }

  #context(job: Job, tx: PoolClient | undefined): MessageContext {
    const { logger, name } = this.#o;
    let bound: MessagingLogger | undefined;
    return {
      tx,
      attempt: job.delivery.attempt,
      signal: this.#closing.signal,
      message: job.delivery.message,
      get logger() {
        bound ??=
          logger.child?.({ consumer: name, messageId: job.envelope.id, type: job.envelope.type }) ?? logger;
        return bound;
      },
    };
  }

  /** Where the handler's messages go: the outbox in `tx`, or the job's list published after the commit. */
  #sink(job: Job, tx: PoolClient | undefined): EnvelopeSink {
    const { outbox, source } = this.#o;
    return {
      source,
      publish: async (envelope, topic) => {
        if (outbox !== undefined && tx !== undefined) {
          await outbox.publishEnvelope(tx, envelope, topic);
          return;
        }
        job.outgoing.push({
          id: envelope.id,
          topic,
          ...(envelope.partitionkey === undefined ? {} : { key: envelope.partitionkey }),
          body: encodeEnvelope(envelope),
        });
      },
    };
  }

  /** Publishes what the handlers of committed messages produced; a failure loses them (no outbox: at most once). */
  async #publishOutgoing(jobs: readonly Job[]): Promise<void> {
    const messages = jobs.flatMap((job) => job.outgoing);
    if (messages.length === 0) return;
    try {
      await this.#o.transport.publish(messages);
    } catch (error) {
      this.#o.logger.error(
        { consumer: this.#o.name, messageIds: messages.map((m) => m.id), err: error },
        "could not publish the messages of committed handlers; give the consumer an outbox to make them exactly once",
      );
    }
  }

  /** Lets the handler answer for a dead-lettered message (a command's failure reply), published at once. */
  async #afterDeadLetter(target: SettleTarget, reason: DeadLetterReason): Promise<void> {
    const { envelope, handler, span } = target;
    if (envelope === undefined || handler?.deadLettered === undefined || span === undefined) return;
    const job: Job = { delivery: target.delivery, envelope, handler, span, outgoing: [] };
    await handler.deadLettered(envelope, reason, this.#sink(job, undefined));
    await this.#publishOutgoing([job]);
  }

  /** The backoff after `attempt` failed, as whole non-negative milliseconds. */
  #delay(attempt: number, error: unknown): number {
    const raw = Number(this.#o.backoff(attempt, error, 0));
    return Number.isFinite(raw) && raw > 0 ? Math.round(raw) : 0;
  }

  #spanTarget(delivery: Delivery) {
    return { system: this.#o.transport.kind, consumer: this.#o.name, message: delivery.message };
  }
}

/**
 * Creates a {@link Consumer}; call `start()` to install the inbox and subscribe. Throws a
 * `ConfigError` listing every bad option with its path.
 *
 * @example
 * ```ts
 * const billing = consumer({ name: "billing", transport, db: pool, handlers: [on(orderPlaced, handle)] });
 * await billing.start();
 * ```
 */
export function consumer(options: ConsumerOptions): Consumer {
  return new Consumer(options);
}
