import type { Queryable } from "@flotilla/messaging";
import { ConfigReader } from "@flotilla/resilience";
import { advisoryLockKey } from "@flotilla/service";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import { throwIfOptionsInvalid } from "./saga-options-error.js";
import { readSqlIdentifier } from "./sql-identifier.js";

/** Options of {@link participantTables}. */
export interface ParticipantTablesOptions {
  /** The schema of both tables. Default `"flotilla"`. */
  readonly schema?: string;
  /** The table of stored command replies (see `idempotentCommand`). Default `"saga_participant_replies"`. */
  readonly replies?: string;
  /** The table of stored results of `oncePerKey`. Default `"saga_participant_keys"`. */
  readonly keys?: string;
}

/**
 * The two tables a saga participant keeps in its own database so that a repeated idempotency key
 * returns the first result instead of applying the effect again:
 *
 * - `replies` (`key text PRIMARY KEY, message_id text, command text, reply jsonb, created_at`):
 *   the reply `idempotentCommand` sent for a key, re-sent for a repeated command;
 * - `keys` (`key text PRIMARY KEY, result jsonb, created_at`): what `oncePerKey` returned.
 *
 * Rows are never deleted by Flotilla: delete rows older than any saga can still retry (its
 * deadline) with {@link ParticipantTables.sweep}.
 */
export class ParticipantTables {
  /** The schema, unquoted. */
  readonly schema: string;
  /** The replies table, quoted and schema-qualified (`"flotilla"."saga_participant_replies"`). */
  readonly replies: string;
  /** The keys table, quoted and schema-qualified (`"flotilla"."saga_participant_keys"`). */
  readonly keys: string;
  readonly #install: string;

  /** Validates the names; prefer {@link participantTables}. */
  constructor(options: ParticipantTablesOptions = {}) {
    const reader = new ConfigReader();
    const raw = reader.object(options, "");
    reader.knownKeys(raw, ["schema", "replies", "keys"], "");
    const schema = readSqlIdentifier(reader, raw, "schema", "", "flotilla");
    const replies = readSqlIdentifier(reader, raw, "replies", "", "saga_participant_replies");
    const keys = readSqlIdentifier(reader, raw, "keys", "", "saga_participant_keys");
    if (replies === keys) reader.issue("keys", `must differ from replies ("${replies}")`);
    throwIfOptionsInvalid(reader, "participantTables");
    this.schema = schema;
    this.replies = `"${schema}"."${replies}"`;
    this.keys = `"${schema}"."${keys}"`;
    const lock = advisoryLockKey(`flotilla.saga.participant.install:${this.replies}:${this.keys}`);
    const index = `${replies}_message_id_idx`.slice(0, 63);
    // One simple query: a pool runs it on one connection, so the advisory lock covers every statement.
    this.#install = `BEGIN;
SELECT pg_advisory_xact_lock(${lock});
CREATE SCHEMA IF NOT EXISTS "${schema}";
CREATE TABLE IF NOT EXISTS ${this.replies} (
  key text PRIMARY KEY,
  message_id text NOT NULL,
  command text NOT NULL,
  reply jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS "${index}" ON ${this.replies} (message_id);
CREATE TABLE IF NOT EXISTS ${this.keys} (
  key text PRIMARY KEY,
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMIT;`;
  }

  /**
   * Creates the schema and both tables unless they exist. Safe when several instances start at
   * once (a transaction-level advisory lock serialises them). `db` may be a pool.
   */
  async install(db: Queryable): Promise<void> {
    await db.query(this.#install);
  }

  /**
   * Deletes the rows of both tables created more than `olderThanMs` milliseconds ago and returns
   * how many. A key repeated after its row is gone runs its effect again, so keep rows longer
   * than any saga may retry a step.
   */
  async sweep(db: Queryable, olderThanMs: number): Promise<number> {
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw new SagaError(
        SagaErrorCode.OptionsInvalid,
        `participant tables sweep: olderThanMs must be a non-negative number of milliseconds, got ${String(olderThanMs)}`,
      );
    }
    let total = 0;
    for (const table of [this.replies, this.keys]) {
      const result = await db.query(
        `DELETE FROM ${table} WHERE created_at < now() - $1::double precision * interval '1 millisecond'`,
        [olderThanMs],
      );
      total += result.rowCount ?? 0;
    }
    return total;
  }
}

/**
 * Names the participant tables (default `"flotilla"."saga_participant_replies"` and
 * `"flotilla"."saga_participant_keys"`). Throws a `FLT_SAGA_OPTIONS_INVALID` `SagaError` naming
 * an option that is not a lower-case SQL identifier.
 *
 * @example
 * ```ts
 * const tables = participantTables({ schema: "payments" });
 * await tables.install(pool);
 * ```
 */
export function participantTables(options: ParticipantTablesOptions = {}): ParticipantTables {
  return new ParticipantTables(options);
}

/** The tables used when a helper is given none: `"flotilla"."saga_participant_*"`. */
export const defaultParticipantTables: ParticipantTables = new ParticipantTables();
