import { EventStream, type TimerHandle } from "@flotilla/resilience";
import type { PoolClient } from "pg";
import { isMessagingError, MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { OutboxRelayEvent } from "./outbox-relay-event.js";
import { OutboxRelayMetrics } from "./outbox-relay-metrics.js";
import {
  type OutboxRelayOptions,
  parseOutboxRelayOptions,
  type ResolvedOutboxRelayOptions,
} from "./outbox-relay-options.js";
import { type OutboxRow, rowToMessage } from "./outbox-row.js";

/** What {@link OutboxRelay.status} reports. */
export interface OutboxRelayStatus {
  /** True while this relay holds the lease and publishes. */
  readonly leader: boolean;
  /** Unsent rows at the last refresh (the leader refreshes at most every `pollInterval`). */
  readonly depth: number;
  /** Age of the oldest unsent row at the last refresh, in milliseconds; 0 when none. */
  readonly oldestUnsentAgeMs: number;
  /** Rows this relay published since it started. */
  readonly published: number;
  /** The last publish or database error, until a publish succeeds again. */
  readonly lastError?: string;
}

interface Lease {
  readonly client: PoolClient;
  lost: boolean;
}

interface Waiter {
  readonly done: () => void;
  readonly onNotify: boolean;
}

const deleteChunk = 1_000;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Publishes the rows of an {@link Outbox} through a {@link Transport}, one relay per service
 * active at a time.
 *
 * - **Lease**: the leader holds `pg_try_advisory_lock` on a connection of its own; the others
 *   retry every `leaseRetryInterval`. When that connection fails the leader stops publishing at
 *   once and competes for the lease again, so two relays never publish concurrently for long
 *   (one batch at most, whose rows may then be published twice: consumers de-duplicate on `id`).
 * - **Visibility**: it reads only rows of transactions that have finished (`txid` below the
 *   snapshot's `xmin`), in `(txid, position)` order, so a transaction that commits after a later
 *   one is never skipped. The price: a long transaction that has written anything, in any
 *   database of the cluster, holds the relay back until it ends; `flotilla_outbox_oldest_unsent_age_seconds`
 *   shows it. While committed rows wait behind such a transaction the relay looks again after
 *   10 ms, doubling up to `pollInterval`.
 * - **Loop**: idle, it waits for the table's `NOTIFY` (sent at commit) or `pollInterval`; busy, it
 *   reads again after `busyPollInterval` and producers skip the `NOTIFY` (see `OutboxSql.wakeTable`:
 *   a notifying commit takes a cluster-wide lock). Each round reads up to
 *   `batchSize` rows, publishes them in order, and marks the confirmed ones sent — after a
 *   `PublishFailedError` only the confirmed prefix. While the broker fails it retries with
 *   `backoff`, records `attempts` and `last_error` on the rows, and warns once per outage. Every
 *   committed row is published at least once, each partition key in order.
 * - **Clean-up**: every `cleanupInterval` it deletes rows sent more than `retention` ago.
 *
 * A row the broker refuses for good (say, over the broker's own size limit) blocks the outbox in
 * place, keeping order; its `last_error` and the age metric show it.
 *
 * @example
 * ```ts
 * const relay = outboxRelay({ pool: db.pool, outbox: orders, transport, registry: metrics.registry, logger });
 * relay.start();
 * // on shutdown, before closing the transport and the pool:
 * await relay.stop();
 * ```
 */
export class OutboxRelay {
  /** Leadership changes, batches, failures and drains, for tests and diagnostics. */
  readonly events: EventStream<OutboxRelayEvent> = new EventStream();
  readonly #o: ResolvedOutboxRelayOptions;
  readonly #metrics: OutboxRelayMetrics | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #loop: Promise<void> | undefined;
  #lease: Lease | undefined;
  #waiter: Waiter | undefined;
  #notified = false;
  #failures = 0;
  #lastDelay = 0;
  #leaseFailures = 0;
  #nextCleanup = 0;
  #statsAt = Number.NEGATIVE_INFINITY;
  #depth = 0;
  #oldestMs = 0;
  #published = 0;
  #lastError: string | undefined;
  /** The next short wait while rows may be on their way without a NOTIFY; 0 when none. */
  #shortWait = 0;
  /** What the wake table says, as far as this relay knows; undefined after taking the lease. */
  #wakeOn: boolean | undefined;

  /** Validates `options`; see {@link outboxRelay}. */
  constructor(options: OutboxRelayOptions) {
    this.#o = parseOutboxRelayOptions(options);
    this.#metrics =
      this.#o.registry === undefined
        ? undefined
        : new OutboxRelayMetrics(this.#o.registry, `${this.#o.outbox.schema}.${this.#o.outbox.tableName}`);
  }

  /** Starts competing for the lease and, once leader, publishing. Does nothing when running. */
  start(): void {
    if (this.#state === "running") return;
    if (this.#state !== "new") {
      throw new MessagingError(MessagingErrorCode.Closed, "outbox relay: start() after stop()");
    }
    this.#state = "running";
    this.#loop = this.#run();
  }

  /**
   * Finishes the batch in flight (publishing and marking it), releases the lease and stops.
   * Idempotent. The transport and the pool stay open.
   */
  async stop(): Promise<void> {
    if (this.#state === "new") this.#state = "stopped";
    if (this.#state === "stopped") return;
    this.#state = "stopping";
    this.#wake(false);
    await this.#loop;
    this.#state = "stopped";
  }

  /** Leadership, backlog and counters; see {@link OutboxRelayStatus}. */
  status(): OutboxRelayStatus {
    return {
      leader: this.#lease !== undefined && !this.#lease.lost,
      depth: this.#depth,
      oldestUnsentAgeMs: this.#oldestMs,
      published: this.#published,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  async #run(): Promise<void> {
    try {
      while (this.#state === "running") {
        if (this.#lease?.lost) {
          await this.#dropLease("the lease connection failed", true);
          // Standing back one interval lets a healthy relay take over instead of this one at once.
          await this.#wait(this.#o.leaseRetryInterval, false);
          continue;
        }
        if (this.#lease === undefined && !(await this.#acquire())) {
          await this.#wait(this.#o.leaseRetryInterval, false);
          continue;
        }
        const wait = await this.#cycle();
        if (wait > 0) await this.#wait(wait, true);
      }
    } catch (error) {
      this.#o.logger.error(
        { err: error, table: this.#o.outbox.table },
        "outbox relay stopped by an unexpected error",
      );
    } finally {
      await this.#dropLease("stopped", false);
    }
  }

  /** Takes the lease if it is free: locks, then listens on the same connection. */
  async #acquire(): Promise<boolean> {
    const { pool, outbox, logger } = this.#o;
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      this.#leaseFailures++;
      this.#lastError = describe(error);
      const log = this.#leaseFailures === 1 ? logger.warn : logger.debug;
      log.call(logger, { err: error, table: outbox.table }, "outbox relay cannot connect to take the lease");
      return false;
    }
    this.#leaseFailures = 0;
    const lease: Lease = { client, lost: false };
    const onLost = (): void => {
      if (lease.lost) return;
      lease.lost = true;
      this.#wake(false);
    };
    // A checked-out client has no error listener of the pool's; without ours a dead connection would crash the process.
    client.on("error", onLost);
    client.on("end", onLost);
    try {
      const { rows } = await client.query<{ held: boolean }>(
        "SELECT pg_try_advisory_lock($1::bigint) AS held",
        [outbox.sql.leaseKey.toString()],
      );
      if (rows[0]?.held !== true) {
        client.off("error", onLost);
        client.off("end", onLost);
        client.release();
        return false;
      }
      client.on("notification", (message) => {
        if (message.channel === outbox.notifyChannel) this.#wake(true);
      });
      await client.query(`LISTEN "${outbox.notifyChannel}"`);
    } catch (error) {
      lease.lost = true;
      client.release(true);
      this.#lastError = describe(error);
      logger.warn({ err: error, table: outbox.table }, "outbox relay could not take the lease");
      return false;
    }
    if (this.#state !== "running") {
      lease.lost = true;
      client.release(true);
      return false;
    }
    this.#lease = lease;
    this.#wakeOn = undefined;
    this.#shortWait = 0;
    this.#metrics?.leader(true);
    this.#nextCleanup = this.#o.clock.now();
    this.#statsAt = Number.NEGATIVE_INFINITY;
    logger.info({ table: outbox.table }, "outbox relay is the leader");
    this.events.emit({ type: "leader" });
    return true;
  }

  async #dropLease(reason: string, failed: boolean): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined) return;
    this.#lease = undefined;
    lease.lost = true;
    this.#metrics?.leader(false);
    // Destroying the connection ends the session, which releases the advisory lock and the LISTEN.
    lease.client.release(true);
    const fields = { table: this.#o.outbox.table, reason };
    if (failed) this.#o.logger.warn(fields, "outbox relay lost the lease");
    else this.#o.logger.info(fields, "outbox relay released the lease");
    this.events.emit({ type: "follower", reason });
  }

  /** One read-publish-mark round; returns how long to wait for news before the next (0: go on at once). */
  async #cycle(): Promise<number> {
    const lease = this.#lease as Lease;
    const { pool, outbox, transport, logger } = this.#o;
    await this.#cleanUp();
    this.#notified = false;
    let rows: OutboxRow[];
    try {
      rows = (await lease.client.query<OutboxRow>(outbox.sql.selectBatch, [this.#o.batchSize])).rows;
    } catch (error) {
      this.#lastError = describe(error);
      this.events.emit({ type: "error", error });
      // Any failure on the lease connection may mean the lease is gone; never go on without knowing.
      await this.#dropLease(`reading the outbox failed: ${describe(error)}`, true);
      await this.#wait(this.#o.leaseRetryInterval, false);
      return 0;
    }
    if (rows.length === 0) {
      await this.#refreshStats(true);
      // Going idle: ask for NOTIFYs, then poll soon, doubling, for the transactions that were
      // already open without sending one, and for committed rows held back by an open transaction.
      const wokeUp = this.#wakeOn !== true && (await this.#setWake(true));
      this.#shortWait =
        this.#depth > 0 || wokeUp || this.#shortWait > 0
          ? Math.min(this.#o.pollInterval, Math.max(10, this.#shortWait * 2))
          : 0;
      this.events.emit({ type: "drained" });
      return this.#shortWait > 0 ? this.#shortWait : this.#o.pollInterval;
    }
    this.#shortWait = 0;
    if (this.#wakeOn !== false) await this.#setWake(false);
    if (lease.lost) return 0;
    const messages = rows.map((row) => rowToMessage(row, outbox.source));
    let confirmed = rows.length;
    let failure: unknown;
    try {
      await transport.publish(messages);
    } catch (error) {
      failure = error;
      const published = isMessagingError(error, MessagingErrorCode.PublishFailed)
        ? (error as { published?: unknown }).published
        : 0;
      confirmed =
        typeof published === "number" ? Math.max(0, Math.min(rows.length, Math.floor(published))) : 0;
    }
    if (confirmed > 0) {
      const ids = rows.slice(0, confirmed).map((row) => row.id);
      try {
        await pool.query(outbox.sql.markSent, [ids]);
      } catch (error) {
        // Unmarked rows are read again and published twice, which consumers tolerate; losing them they would not.
        this.#lastError = describe(error);
        this.events.emit({ type: "error", error });
        logger.warn(
          { err: error, table: outbox.table, count: ids.length },
          "outbox relay could not mark published rows; they will be published again",
        );
        await this.#wait(this.#o.leaseRetryInterval, false);
        return 0;
      }
      this.#published += confirmed;
      this.#metrics?.published(confirmed);
      this.events.emit({ type: "published", ids });
    }
    if (failure !== undefined) {
      await this.#failed(failure, rows.slice(confirmed), confirmed);
      return 0;
    }
    if (this.#failures > 0) {
      logger.info(
        { table: outbox.table, failedAttempts: this.#failures },
        "outbox relay is publishing again after failed attempts",
      );
      this.#failures = 0;
      this.#lastDelay = 0;
    }
    this.#lastError = undefined;
    await this.#refreshStats(false);
    // Busy, without NOTIFYs: a full batch means more is waiting; otherwise gather a few more rows.
    return rows.length < this.#o.batchSize ? this.#o.busyPollInterval : 0;
  }

  /** Records in the wake table whether producers should NOTIFY; false when that failed (polling still covers). */
  async #setWake(on: boolean): Promise<boolean> {
    const lease = this.#lease;
    if (lease === undefined || lease.lost) return false;
    try {
      await lease.client.query(this.#o.outbox.sql.setWake, [on]);
      this.#wakeOn = on;
      return true;
    } catch (error) {
      this.#wakeOn = undefined;
      this.#o.logger.debug(
        { err: error, table: this.#o.outbox.table },
        "outbox relay could not set its wake flag",
      );
      return false;
    }
  }

  async #failed(error: unknown, unconfirmed: readonly OutboxRow[], confirmed: number): Promise<void> {
    const { pool, outbox, logger, backoff } = this.#o;
    this.#failures++;
    this.#metrics?.failed();
    const next = Number(backoff(this.#failures, error, this.#lastDelay));
    const delayMs = Number.isFinite(next) && next > 0 ? next : 0;
    this.#lastDelay = delayMs;
    this.#lastError = describe(error);
    const fields = {
      err: error,
      table: outbox.table,
      attempt: this.#failures,
      confirmed,
      pending: unconfirmed.length,
      retryInMs: Math.round(delayMs),
    };
    if (this.#failures === 1) logger.warn(fields, "outbox relay cannot publish; retrying with backoff");
    else logger.debug(fields, "outbox relay publish failed again");
    this.events.emit({ type: "publish-failed", error, attempt: this.#failures, confirmed, delayMs });
    try {
      await pool.query(outbox.sql.markFailed, [unconfirmed.map((row) => row.id), this.#lastError]);
    } catch (markError) {
      logger.debug(
        { err: markError, table: outbox.table },
        "outbox relay could not record the failed attempt",
      );
    }
    await this.#refreshStats(false);
    // Waits in slices of the poll interval so that the backlog gauges keep rising during an outage.
    for (let left = delayMs; left > 0 && this.#state === "running"; left -= this.#o.pollInterval) {
      await this.#wait(Math.min(left, this.#o.pollInterval), false);
      await this.#refreshStats(false);
    }
  }

  async #refreshStats(force: boolean): Promise<void> {
    const { clock, pool, outbox, pollInterval } = this.#o;
    const now = clock.now();
    if (!force && now - this.#statsAt < pollInterval) return;
    this.#statsAt = now;
    try {
      const { rows } = await pool.query<{ depth: number; oldest_ms: number }>(outbox.sql.stats);
      this.#depth = rows[0]?.depth ?? 0;
      this.#oldestMs = Math.max(0, rows[0]?.oldest_ms ?? 0);
      this.#metrics?.backlog(this.#depth, this.#oldestMs);
    } catch (error) {
      this.#o.logger.debug({ err: error, table: outbox.table }, "outbox relay could not read the backlog");
    }
  }

  async #cleanUp(): Promise<void> {
    const { clock, pool, outbox, retention, cleanupInterval, logger } = this.#o;
    if (clock.now() < this.#nextCleanup) return;
    this.#nextCleanup = clock.now() + cleanupInterval;
    let deleted = 0;
    try {
      for (;;) {
        const { rowCount } = await pool.query(outbox.sql.deleteSent, [retention, deleteChunk]);
        deleted += rowCount ?? 0;
        if ((rowCount ?? 0) < deleteChunk || this.#state !== "running") break;
      }
    } catch (error) {
      this.events.emit({ type: "error", error });
      logger.warn({ err: error, table: outbox.table }, "outbox relay could not delete sent rows");
    }
    if (deleted > 0) {
      logger.debug({ table: outbox.table, deleted }, "outbox relay deleted sent rows");
      this.events.emit({ type: "cleaned", deleted });
    }
  }

  /** Waits `ms`; stop and a lost lease end the wait early, and so does a `NOTIFY` when `onNotify`. */
  #wait(ms: number, onNotify: boolean): Promise<void> {
    if (this.#state !== "running" || this.#lease?.lost) return Promise.resolve();
    if (onNotify && this.#notified) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      const done = (): void => {
        if (timer !== undefined) this.#o.clock.clearTimeout(timer);
        if (this.#waiter === waiter) this.#waiter = undefined;
        resolve();
      };
      const waiter: Waiter = { done, onNotify };
      this.#waiter = waiter;
      timer = this.#o.clock.setTimeout(done, ms);
    });
  }

  /** Ends the current wait: always, or for a notification only a wait that listens for one. */
  #wake(notification: boolean): void {
    if (notification) this.#notified = true;
    const waiter = this.#waiter;
    if (waiter !== undefined && (!notification || waiter.onNotify)) waiter.done();
  }
}

/**
 * Creates an {@link OutboxRelay} (not started). Throws a `ConfigError` naming each bad option.
 *
 * @example
 * ```ts
 * const relay = outboxRelay({ pool, outbox: orders, transport, pollInterval: "500ms" });
 * relay.start();
 * ```
 */
export function outboxRelay(options: OutboxRelayOptions): OutboxRelay {
  return new OutboxRelay(options);
}
