import { type Backoff, fullJitterBackoff, type TimerHandle } from "@flotilla/resilience";
import { MessagingError, MessagingErrorCode, PublishFailedError } from "../../errors/messaging-error.js";
import { assertOutgoingMessages } from "../../transport/assert-outgoing-messages.js";
import { assertSubscribeOptions } from "../../transport/assert-subscribe-options.js";
import type {
  DeadLetterAdmin,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  Transport,
} from "../../transport/transport.js";
import { AckBatcher } from "./ack-batcher.js";

/** Most rows one subscription claims and holds at once. */
const maxPrefetch = 10_000;

import { BusStore } from "./bus-store.js";
import { databaseError, isConnectionError } from "./connection-error.js";
import { NotifyListener } from "./notify-listener.js";
import { PostgresDeadLetterAdmin } from "./postgres-dead-letter-admin.js";
import { PostgresSubscription, type PostgresSubscriptionContext } from "./postgres-subscription.js";
import {
  type PostgresTransportOptions,
  type ResolvedPostgresTransportOptions,
  resolvePostgresTransportOptions,
} from "./postgres-transport-options.js";
import { topicRegex } from "./topic-regex.js";

/**
 * A {@link Transport} on PostgreSQL alone: the bus is three tables in one schema of a database
 * (`subscriptions`, `messages`, `dead_letters`), created on first use.
 *
 * - Publishing a batch is one statement (one round trip, one commit): it inserts a row per message
 *   per subscribed queue whose pattern matches the topic, and NOTIFYs those queues. Fan-out reads
 *   the `subscriptions` table in that same statement, so a queue receives everything published
 *   after its `subscribe()` resolved, with or without a consumer running.
 * - Consumers claim batches with `FOR UPDATE SKIP LOCKED`, woken by LISTEN/NOTIFY on one dedicated
 *   connection per transport, with polling every `pollInterval` as the fallback for a missed
 *   notification (and the only wake-up while the LISTEN connection is being re-established).
 * - A claimed message is hidden for `visibilityTimeout`, extended every `heartbeatInterval` while
 *   its delivery is unsettled; a consumer that dies stops extending it, and it is delivered again.
 * - Only the oldest message of each partition key in a queue is claimable, so a key is in one
 *   handler at a time across every process, in publish order. (Two publishes of one key racing in
 *   separate transactions have no defined order between them.)
 * - Acks are group-committed (one DELETE for all acks that arrive while the previous is written).
 * - Claims, acks, retries and heartbeats commit with `synchronous_commit` off (those statements
 *   only): a database crash may undo the last moments of them, which shows up as redeliveries, never
 *   as lost messages. Publishes and dead-letter moves commit durably.
 *
 * While the database is away, `publish` and the dead-letter admin reject with
 * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE`, consumers log and back off, and all resumes once it is back.
 * Create it with {@link postgresTransport}, which also installs the tables.
 */
export class PostgresTransport implements Transport {
  readonly kind = "postgres";
  readonly deadLetters: DeadLetterAdmin;
  /** The schema holding the bus tables. */
  readonly schema: string;
  readonly #options: ResolvedPostgresTransportOptions;
  readonly #store: BusStore;
  readonly #context: PostgresSubscriptionContext;
  readonly #listener: NotifyListener;
  readonly #subscriptions = new Map<string, Set<PostgresSubscription>>();
  #heartbeat: TimerHandle | undefined;
  #beating: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  /** Checks `options` (throws `FLT_MESSAGING_CONFIG_INVALID`); {@link postgresTransport} also starts it. */
  constructor(options: PostgresTransportOptions) {
    const o = resolvePostgresTransportOptions(options);
    this.#options = o;
    this.schema = o.schema;
    this.#store = new BusStore(o.pool, o.schema);
    const backoff: Backoff = fullJitterBackoff({
      initialDelay: 100,
      maxDelay: Math.max(5000, o.pollInterval),
    });
    this.#context = {
      store: this.#store,
      acks: new AckBatcher(this.#store, o.logger),
      pollInterval: o.pollInterval,
      visibilityTimeout: o.visibilityTimeout,
      retryDelayOnThrow: o.retryDelayOnThrow,
      backoff,
      logger: o.logger,
      clock: o.clock,
    };
    this.#listener = new NotifyListener({
      connection: o.listenConnection,
      channel: this.#store.channel,
      onNotify: (payload) => this.#notified(payload),
      onReconnect: () => this.#wakeAll(),
      backoff: fullJitterBackoff({ initialDelay: 100, maxDelay: 5000 }),
      logger: o.logger,
      clock: o.clock,
    });
    this.deadLetters = new PostgresDeadLetterAdmin(this.#store, (what) => this.#assertOpen(what));
    if (o.ownsPool) {
      o.pool.on("error", (error) => {
        o.logger.warn({ err: error }, "postgres transport: idle pooled connection failed");
      });
    }
  }

  /**
   * Creates the bus tables if missing and opens the LISTEN connection. Rejects with
   * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` when the database cannot be reached.
   */
  async start(): Promise<void> {
    this.#assertOpen("start");
    try {
      await this.#store.install();
    } catch (error) {
      throw databaseError(`install of the bus tables in schema "${this.schema}"`, error);
    }
    await this.#listener.start();
    this.#scheduleHeartbeat();
  }

  /**
   * Writes the messages in one transaction: all of them or, on failure, none. Rejects with
   * `FLT_MESSAGING_CONFIG_INVALID` for a message that cannot be published, with
   * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` when the database cannot be reached, and with a
   * `PublishFailedError` (`published` 0) when it refuses the batch.
   */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen("publish");
    assertOutgoingMessages(messages);
    if (messages.length === 0) return;
    try {
      await this.#store.publish(messages);
    } catch (error) {
      if (isConnectionError(error)) throw databaseError("publish", error);
      throw new PublishFailedError(`publish: PostgreSQL refused the batch: ${(error as Error).message}`, 0, {
        cause: error,
      });
    }
  }

  /**
   * Records the queue's topic patterns (they stay recorded: messages published while no consumer
   * runs wait in the queue) and starts claiming.
   */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen("subscribe");
    assertSubscribeOptions(options, maxPrefetch);
    const patterns = [...new Set(options.topics)].map((pattern) => ({ pattern, regex: topicRegex(pattern) }));
    try {
      await this.#store.subscribe(options.queue, patterns);
    } catch (error) {
      throw databaseError(`subscribe to queue "${options.queue}"`, error);
    }
    this.#assertOpen("subscribe");
    const subscription = new PostgresSubscription(
      { queue: options.queue, prefetch: options.prefetch, handler: options.handler },
      this.#context,
      (closed) => this.#subscriptions.get(closed.queue)?.delete(closed),
    );
    let group = this.#subscriptions.get(options.queue);
    if (group === undefined) {
      group = new Set();
      this.#subscriptions.set(options.queue, group);
    }
    group.add(subscription);
    subscription.start();
    return subscription;
  }

  /** Closes every subscription, then the LISTEN connection and (when it created it) the pool. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const subscriptions = [...this.#subscriptions.values()].flatMap((group) => [...group]);
    await Promise.all(subscriptions.map((s) => s.close()));
    if (this.#heartbeat !== undefined) this.#options.clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.#beating;
    await this.#context.acks.idle();
    await this.#listener.close();
    if (this.#options.ownsPool) await this.#options.pool.end();
  }

  #assertOpen(what: string): void {
    if (this.#closed !== undefined) {
      throw new MessagingError(MessagingErrorCode.Closed, `${what}: the postgres transport is closed`);
    }
  }

  #notified(payload: string): void {
    const at = payload.lastIndexOf("@");
    const queue = at < 0 ? payload : payload.slice(0, at);
    const delayMs = at < 0 ? 0 : Number(payload.slice(at + 1));
    for (const subscription of this.#subscriptions.get(queue) ?? []) subscription.wake(delayMs);
  }

  #wakeAll(): void {
    for (const group of this.#subscriptions.values()) for (const subscription of group) subscription.wake();
  }

  #scheduleHeartbeat(): void {
    if (this.#closed !== undefined) return;
    this.#heartbeat = this.#options.clock.setTimeout(() => {
      this.#beating = this.#beat().finally(() => {
        this.#beating = undefined;
        this.#scheduleHeartbeat();
      });
    }, this.#options.heartbeatInterval);
  }

  async #beat(): Promise<void> {
    const claims = [...this.#subscriptions.values()].flatMap((group) =>
      [...group].flatMap((s) => s.claims()),
    );
    if (claims.length === 0) return;
    const { logger, visibilityTimeout } = this.#options;
    try {
      const held = await this.#store.extend(claims, visibilityTimeout);
      if (held.size < claims.length) {
        logger.warn(
          { lost: claims.filter((c) => !held.has(c.seq)).map((c) => c.seq) },
          "postgres transport: unsettled deliveries outlived their visibility timeout and may be delivered again",
        );
      }
    } catch (error) {
      logger.warn({ err: error, messages: claims.length }, "postgres transport: heartbeat failed");
    }
  }
}

/**
 * Creates a {@link PostgresTransport} and installs its tables (idempotent; safe when several
 * processes start at once). Give `url` for a pool the transport owns, or `pool` to share one (the
 * caller ends it after `close()`); either way one more connection is opened for LISTEN.
 *
 * @example
 * ```ts
 * const transport = await postgresTransport({ url: "postgres://bus@db/bus", logger });
 * await transport.subscribe({
 *   queue: "billing",
 *   topics: ["orders.#"],
 *   prefetch: 32,
 *   handler: async (delivery) => {
 *     await bill(decodeEnvelope(delivery.message.body));
 *     await delivery.ack();
 *   },
 * });
 * await transport.publish([{ id, topic: "orders.placed", key: orderId, body }]);
 * ```
 */
export async function postgresTransport(options: PostgresTransportOptions): Promise<PostgresTransport> {
  const transport = new PostgresTransport(options);
  try {
    await transport.start();
  } catch (error) {
    await transport.close();
    throw error;
  }
  return transport;
}
