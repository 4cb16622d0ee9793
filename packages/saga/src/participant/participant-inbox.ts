import { Inbox, type InboxOptions, type Queryable } from "@flotilla/messaging";
import { defaultParticipantTables, type ParticipantTables } from "./participant-tables.js";

/** Options of {@link participantInbox}: those of the messaging `inbox`, and the participant tables. */
export interface ParticipantInboxOptions extends InboxOptions {
  /** The tables `idempotentCommand` stores replies in. Default {@link defaultParticipantTables}. */
  readonly tables?: ParticipantTables;
}

/**
 * The inbox of a saga participant's consumer: the messaging `Inbox` (same table, same
 * exactly-once effects), except that a command whose id it has already seen is handed to its
 * handler again when a reply is stored for it, so that `idempotentCommand` re-sends that reply
 * (without running the command's handler). A plain inbox would acknowledge the repeated command
 * silently and the orchestrator waiting for the reply would never get one. Other duplicates are
 * skipped as usual. `install` also installs the participant tables.
 */
export class ParticipantInbox extends Inbox {
  /** The participant tables whose stored replies are re-sent. */
  readonly tables: ParticipantTables;

  /** Validates the options; prefer {@link participantInbox}. */
  constructor(options: ParticipantInboxOptions = {}) {
    const { tables, ...inboxOptions } = options;
    super(inboxOptions);
    this.tables = tables ?? defaultParticipantTables;
  }

  /** Creates the inbox table and the participant tables unless they exist. */
  override async install(db: Queryable): Promise<void> {
    await super.install(db);
    await this.tables.install(db);
  }

  /**
   * Records the ids as the messaging inbox does, and returns as new the ids recorded now plus the
   * already recorded ids of commands that have a stored reply (to be answered again).
   */
  override async record(tx: Queryable, consumer: string, ids: readonly string[]): Promise<Set<string>> {
    const fresh = await super.record(tx, consumer, ids);
    const seen = ids.filter((id) => !fresh.has(id));
    if (seen.length === 0) return fresh;
    const { rows } = await tx.query(
      `SELECT DISTINCT message_id FROM ${this.tables.replies} WHERE message_id = ANY($1::text[]) AND reply IS NOT NULL`,
      [seen],
    );
    for (const row of rows as { message_id: string }[]) fresh.add(row.message_id);
    return fresh;
  }
}

/**
 * Creates a {@link ParticipantInbox} on `"flotilla"."inbox"` (and the default participant tables)
 * unless told otherwise; pass it as the `inbox` of a consumer with `idempotentCommand` handlers.
 * Throws a `ConfigError` naming a schema or table that is not a plain SQL identifier.
 *
 * @example
 * ```ts
 * const payments = consumer({ name: "payments", transport, db: pool, inbox: participantInbox(), handlers });
 * await payments.start(); // installs the inbox and the participant tables
 * ```
 */
export function participantInbox(options: ParticipantInboxOptions = {}): ParticipantInbox {
  return new ParticipantInbox(options);
}
