import { ConfigReader, type Duration, parseDuration } from "@flotilla/resilience";
import { advisoryLockKey } from "@flotilla/service";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { Queryable } from "./queryable.js";

/** Options of {@link inbox}. */
export interface InboxOptions {
  /** The schema of the table; created by {@link Inbox.install}. Default `"flotilla"`. */
  readonly schema?: string;
  /** The table name. Default `"inbox"`. */
  readonly table?: string;
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const sweepBatch = 10_000;

/**
 * The idempotent inbox: a table of the consumer's database holding `(consumer, message_id)` for
 * every message a consumer has handled. Recording the ids in the same transaction as the
 * handler's effects makes the effects happen once per message, however often the broker
 * delivers it: a redelivery finds its id already there and is skipped. Rows older than the
 * broker could still redeliver are removed with {@link Inbox.sweep}.
 */
export class Inbox {
  /** The schema, unquoted. */
  readonly schema: string;
  /** The table, quoted and schema-qualified, for use in SQL: `"flotilla"."inbox"`. */
  readonly table: string;
  readonly #lockKey: bigint;
  readonly #index: string;

  /** Validates the names; prefer {@link inbox}. */
  constructor(options: InboxOptions = {}) {
    const reader = new ConfigReader();
    const raw = reader.object(options, "");
    reader.knownKeys(raw, ["schema", "table"], "");
    const schema = reader.string(raw, "schema", "", "flotilla");
    const table = reader.string(raw, "table", "", "inbox");
    for (const [key, value] of [
      ["schema", schema],
      ["table", table],
    ] as const) {
      if (!identifier.test(value)) {
        reader.issue(
          key,
          `must be a SQL identifier (a letter or "_", then letters, digits, "_"), got "${value}"`,
        );
      }
    }
    reader.throwIfInvalid();
    this.schema = schema;
    this.table = `"${schema}"."${table}"`;
    this.#lockKey = advisoryLockKey(`flotilla.inbox.install:${this.table}`);
    this.#index = `${table}_received_at_idx`.slice(0, 63);
  }

  /**
   * Creates the schema, the table and its `received_at` index unless they exist. Safe when several
   * instances start at once: the statements run in one transaction under a transaction-level
   * advisory lock (concurrent `CREATE TABLE IF NOT EXISTS` can otherwise fail on the catalog's
   * unique index). `db` may be a pool: the statements travel as one simple query on one connection.
   */
  async install(db: Queryable): Promise<void> {
    await db.query(
      `BEGIN;
SELECT pg_advisory_xact_lock(${this.#lockKey});
CREATE SCHEMA IF NOT EXISTS "${this.schema}";
CREATE TABLE IF NOT EXISTS ${this.table} (
  consumer text NOT NULL,
  message_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
CREATE INDEX IF NOT EXISTS "${this.#index}" ON ${this.table} (received_at);
COMMIT;`,
    );
  }

  /**
   * Records that `consumer` received the messages `ids` and returns the ids that were new, in one
   * statement (`INSERT … ON CONFLICT DO NOTHING RETURNING`). Run it in the handler's transaction
   * (`tx`): an id recorded by a transaction still open elsewhere makes this one wait for it, so
   * two instances never both see an id as new. An id repeated within `ids` is new at most once.
   * The ids are inserted in sorted order, so two transactions recording overlapping ids wait for
   * each other instead of deadlocking.
   */
  async record(tx: Queryable, consumer: string, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const result = await tx.query(
      `INSERT INTO ${this.table} (consumer, message_id) SELECT $1, id FROM unnest($2::text[]) AS id ORDER BY id
ON CONFLICT DO NOTHING RETURNING message_id`,
      [consumer, ids],
    );
    return new Set(result.rows.map((row: { message_id: string }) => row.message_id));
  }

  /**
   * Removes the records of `ids` for `consumer` in `tx`, so that the messages count as new again:
   * for a handler whose effects were rolled back to a savepoint while the rest of the batch commits.
   */
  async forget(tx: Queryable, consumer: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await tx.query(`DELETE FROM ${this.table} WHERE consumer = $1 AND message_id = ANY($2::text[])`, [
      consumer,
      ids,
    ]);
  }

  /**
   * Deletes the records older than `olderThan` (a duration such as `"7d"`, or milliseconds) in
   * batches of 10,000 rows, each its own short transaction, and returns how many it deleted.
   * Keep records longer than the broker may redeliver a message (its retention, the longest
   * retry delay, a dead letter waiting for replay): a message redelivered after its record is
   * swept runs again.
   *
   * @example
   * ```ts
   * setInterval(() => void inbox.sweep(pool, "7d"), 3_600_000).unref();
   * ```
   */
  async sweep(db: Queryable, olderThan: Duration): Promise<number> {
    let ms: number;
    try {
      ms = parseDuration(olderThan);
    } catch (cause) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `inbox sweep: olderThan: ${(cause as Error).message}`,
        { cause },
      );
    }
    let total = 0;
    for (;;) {
      const result = await db.query(
        `DELETE FROM ${this.table} WHERE (consumer, message_id) IN (
  SELECT consumer, message_id FROM ${this.table}
  WHERE received_at < now() - $1::double precision * interval '1 millisecond' LIMIT $2)`,
        [ms, sweepBatch],
      );
      const deleted = result.rowCount ?? 0;
      total += deleted;
      if (deleted < sweepBatch) return total;
    }
  }
}

/**
 * Creates an {@link Inbox} on `"flotilla"."inbox"` unless told otherwise. Throws a `ConfigError`
 * naming a schema or table that is not a plain SQL identifier.
 *
 * @example
 * ```ts
 * const box = inbox({ schema: "billing" });
 * await box.install(pool);
 * ```
 */
export function inbox(options: InboxOptions = {}): Inbox {
  return new Inbox(options);
}
