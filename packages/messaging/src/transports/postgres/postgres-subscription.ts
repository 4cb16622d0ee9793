import type { Backoff, Clock, TimerHandle } from "@flotilla/resilience";
import type { MessagingLogger } from "../../messaging-logger.js";
import { KeyedSerializer } from "../../transport/keyed-serializer.js";
import type { DeadLetterReason, Delivery, Subscription } from "../../transport/transport.js";
import type { AckBatcher } from "./ack-batcher.js";
import type { BusStore, ClaimedRow, ClaimToken } from "./bus-store.js";
import { databaseError } from "./connection-error.js";
import { type DeliverySettler, PostgresDelivery } from "./postgres-delivery.js";

// Two claims in flight let one round trip overlap the next while handlers drain the first.
const maxClaimsInFlight = 2;

/** What a {@link PostgresSubscription} shares with its transport. */
export interface PostgresSubscriptionContext {
  readonly store: BusStore;
  readonly acks: AckBatcher;
  readonly pollInterval: number;
  readonly visibilityTimeout: number;
  readonly retryDelayOnThrow: number;
  /** Back-off of the polling while the database cannot be reached. */
  readonly backoff: Backoff;
  readonly logger: MessagingLogger;
  readonly clock: Clock;
}

/** The consumer side of a subscription: its queue, how many at once, and its handler. */
export interface PostgresConsumer {
  readonly queue: string;
  readonly prefetch: number;
  readonly handler: (delivery: Delivery) => Promise<void>;
}

/**
 * Claims messages of one queue in batches as slots free up and hands each to the handler. A claim
 * runs when a NOTIFY says the queue has new messages, when the poll interval passes without one,
 * and when settlements free slots: at once while the queue was found short (the next message of a
 * partition key may just have been unblocked), otherwise once half of `prefetch` is free, so that
 * under load each claim fetches many messages. Up to two claims run at once. Deliveries of one
 * partition key also run one after another in this process, since the database may unblock a key's
 * next message before this process has seen the previous handler return.
 */
export class PostgresSubscription implements Subscription, DeliverySettler {
  readonly queue: string;
  readonly #prefetch: number;
  readonly #handler: (delivery: Delivery) => Promise<void>;
  readonly #context: PostgresSubscriptionContext;
  readonly #onClosed: (subscription: PostgresSubscription) => void;
  readonly #inFlight = new Map<string, ClaimToken>();
  readonly #running = new Set<Promise<void>>();
  readonly #keys = new KeyedSerializer();
  readonly #settling = new Set<Promise<unknown>>();
  readonly #claiming = new Set<Promise<void>>();
  /** Slots promised to claims still in flight. */
  #reserved = 0;
  #again = false;
  #full = false;
  #failures = 0;
  #timer: TimerHandle | undefined;
  #due = 0;
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(
    consumer: PostgresConsumer,
    context: PostgresSubscriptionContext,
    onClosed: (subscription: PostgresSubscription) => void,
  ) {
    this.queue = consumer.queue;
    this.#prefetch = consumer.prefetch;
    this.#handler = consumer.handler;
    this.#context = context;
    this.#onClosed = onClosed;
  }

  /** Starts claiming. */
  start(): void {
    this.#request(1);
  }

  /** New messages in the queue: claim now, or after `delayMs` for delayed ones. */
  wake(delayMs = 0): void {
    if (delayMs > 0) this.#arm(delayMs);
    else this.#request(1);
  }

  /** The claims held by deliveries not settled yet, for the heartbeat. */
  claims(): ClaimToken[] {
    return [...this.#inFlight.values()];
  }

  /** Stops claiming, waits for running handlers and their settlements, and releases the rest. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (this.#timer !== undefined) this.#context.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#claiming.size > 0) await Promise.allSettled([...this.#claiming]);
    while (this.#running.size > 0 || this.#settling.size > 0) {
      await Promise.allSettled([...this.#running, ...this.#settling]);
    }
    const unsettled = this.claims();
    this.#inFlight.clear();
    if (unsettled.length > 0) {
      // Handlers returned without settling these; give them to the next consumer now rather than
      // after the visibility timeout, as a broker does with a closed channel's unacked messages.
      await this.#context.store.release(unsettled, false).catch((error: unknown) => {
        this.#context.logger.warn(
          { err: error, queue: this.queue, messages: unsettled.length },
          "postgres transport: could not release unsettled messages; they return after the visibility timeout",
        );
      });
    }
    this.#onClosed(this);
  }

  ack(token: ClaimToken): Promise<void> {
    return this.#settle(token, 0, () => this.#context.acks.ack(token));
  }

  retry(token: ClaimToken, delayMs: number, error: string): Promise<void> {
    return this.#settle(token, delayMs, async () => {
      let held: boolean;
      try {
        held = await this.#context.store.retry(token, delayMs, error);
      } catch (cause) {
        throw databaseError("retry", cause);
      }
      if (!held) this.#lost(token, "retry");
    });
  }

  deadLetter(token: ClaimToken, reason: DeadLetterReason): Promise<void> {
    return this.#settle(token, 0, async () => {
      let held: boolean;
      try {
        held = await this.#context.store.deadLetter(token, reason.code, reason.message);
      } catch (cause) {
        throw databaseError("deadLetter", cause);
      }
      if (!held) this.#lost(token, "deadLetter");
    });
  }

  settledTwice(token: ClaimToken, how: string): void {
    this.#context.logger.warn(
      { queue: this.queue, seq: token.seq, attempt: token.attempts, call: how },
      "postgres transport: delivery settled twice; the second settlement is ignored",
    );
  }

  #lost(token: ClaimToken, how: string): void {
    this.#context.logger.warn(
      { queue: this.queue, seq: token.seq, attempt: token.attempts, call: how },
      "postgres transport: settled a delivery whose claim had run out; it may be delivered again",
    );
  }

  async #settle(token: ClaimToken, wakeAfter: number, write: () => Promise<void>): Promise<void> {
    const settling = write();
    this.#settling.add(settling);
    try {
      await settling;
    } finally {
      this.#settling.delete(settling);
      this.#inFlight.delete(token.seq);
      if (wakeAfter > 0) this.#arm(wakeAfter);
      this.#request(this.#full ? Math.ceil(this.#prefetch / 2) : 1);
    }
  }

  #request(minFree: number): void {
    if (this.#closing) return;
    const free = this.#prefetch - this.#inFlight.size - this.#reserved;
    if (free < Math.max(1, minFree)) return;
    if (this.#claiming.size >= maxClaimsInFlight) {
      this.#again = true;
      return;
    }
    this.#again = false;
    const claiming = this.#claim(free);
    this.#claiming.add(claiming);
    void claiming.finally(() => this.#claiming.delete(claiming));
  }

  async #claim(limit: number): Promise<void> {
    const { store, visibilityTimeout, logger } = this.#context;
    this.#reserved += limit;
    let rows: ClaimedRow[];
    try {
      rows = await store.claim(this.queue, limit, visibilityTimeout);
    } catch (error) {
      this.#reserved -= limit;
      this.#failures += 1;
      logger.warn(
        { err: error, queue: this.queue, failures: this.#failures },
        "postgres transport: cannot claim messages; backing off",
      );
      this.#arm(this.#context.backoff(this.#failures, undefined, 0));
      return;
    }
    this.#reserved -= limit;
    if (this.#failures > 0) {
      logger.info({ queue: this.queue, failures: this.#failures }, "postgres transport: claiming again");
      this.#failures = 0;
    }
    if (this.#closing) {
      if (rows.length > 0) {
        await store.release(rows, true).catch((error: unknown) => {
          logger.warn(
            { err: error, queue: this.queue },
            "postgres transport: could not release claimed messages",
          );
        });
      }
      return;
    }
    this.#full = rows.length === limit;
    for (const row of rows) this.#dispatch(row);
    // A full batch suggests more is waiting; a wake-up during the claim may have missed its rows.
    if (this.#full || this.#again) this.#request(1);
    this.#arm(this.#context.pollInterval);
  }

  #arm(ms: number): void {
    if (this.#closing) return;
    const { clock } = this.#context;
    const due = clock.now() + ms;
    if (this.#timer !== undefined) {
      if (this.#due <= due) return;
      clock.clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.#request(1);
    }, ms);
  }

  #dispatch(row: ClaimedRow): void {
    const delivery = new PostgresDelivery(row, this);
    this.#inFlight.set(row.seq, delivery.token);
    // The database unblocks a key's next message when the ack commits, which this process may
    // learn after another claim already returned that message: wait for the handler to return too.
    const running = this.#keys.run(row.key ?? undefined, () => this.#handle(delivery));
    this.#running.add(running);
    void running.finally(() => this.#running.delete(running));
  }

  async #handle(delivery: PostgresDelivery): Promise<void> {
    const { logger, retryDelayOnThrow } = this.#context;
    try {
      await this.#handler(delivery);
      // A handler that returns without settling would otherwise hold its claim (and its key) for as
      // long as the heartbeat runs; treat it like a throw, as the other transports do.
      if (!delivery.settled) throw new Error("the handler returned without settling its delivery");
    } catch (error) {
      const fields = { err: error, queue: this.queue, id: delivery.message.id, attempt: delivery.attempt };
      if (delivery.settled) {
        logger.warn(fields, "postgres transport: handler threw after settling its delivery");
        return;
      }
      logger.warn(
        { ...fields, retryDelayMs: retryDelayOnThrow },
        "postgres transport: handler threw; retrying",
      );
      const message = error instanceof Error ? error.message : String(error);
      await delivery.retry(retryDelayOnThrow, message).catch((cause: unknown) => {
        logger.warn({ ...fields, err: cause }, "postgres transport: could not schedule the retry");
      });
    }
  }
}
