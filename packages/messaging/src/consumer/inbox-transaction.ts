import type { Pool, PoolClient } from "pg";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { Inbox } from "../inbox/inbox.js";

/** What became of one message of an {@link inboxTransaction}. */
export type InboxOutcome =
  | { readonly kind: "done" }
  | { readonly kind: "duplicate" }
  | { readonly kind: "failed"; readonly error: unknown };

/** One batch of messages for {@link inboxTransaction}. */
export interface InboxBatch {
  readonly db: Pool;
  readonly inbox: Inbox;
  readonly consumer: string;
  /** The message ids, in delivery order. */
  readonly ids: readonly string[];
  /** Runs the handler of message `index` with the transaction's client. */
  readonly run: (index: number, tx: PoolClient) => Promise<void>;
}

interface Pass {
  readonly outcomes: InboxOutcome[];
  /** The handler that failed in a pass without savepoints: the transaction is rolled back. */
  readonly failed?: { readonly index: number; readonly error: unknown };
}

const savepoint = "flotilla_message";

/**
 * Handles a batch of messages in ONE transaction: records every id in the inbox in one statement
 * and runs each new message's handler in delivery order with the transaction's client; messages
 * already recorded (by an earlier transaction, or earlier in `ids`) are `duplicate` and not run.
 *
 * A handler that throws is rolled back alone, its inbox record with it, so its retry runs again,
 * while the others commit. Since handlers rarely fail, the first pass spends no round trip on
 * savepoints: when handler `k` throws, that transaction is rolled back and the batch runs again
 * without `k`, now with a savepoint around each handler. The handlers before `k` thus run twice
 * (their first effects rolled back): like a retry after a lost commit, only effects written
 * through the transaction are exactly once.
 *
 * Throws a `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` error (cause: the driver's) when the transaction
 * itself fails (no connection, `BEGIN`, the inbox statements, a savepoint, `COMMIT`): then nothing
 * of the batch took effect, except possibly everything when the connection died during `COMMIT`
 * (a retry then finds the ids recorded).
 */
export async function inboxTransaction(batch: InboxBatch): Promise<InboxOutcome[]> {
  const all = batch.ids.map((_, index) => index);
  const first = await transaction(batch.db, (tx) => withoutSavepoints(tx, batch, all));
  if (first.failed === undefined) return first.outcomes;
  const { index, error } = first.failed;
  const outcomes: InboxOutcome[] = all.map(() => ({ kind: "failed", error }));
  const rest = all.filter((other) => other !== index);
  if (rest.length === 0) return outcomes;
  const second = await transaction(batch.db, (tx) => withSavepoints(tx, batch, rest));
  rest.forEach((other, position) => {
    outcomes[other] = second.outcomes[position]!;
  });
  return outcomes;
}

async function transaction(db: Pool, body: (tx: PoolClient) => Promise<Pass>): Promise<Pass> {
  const client = await connect(db);
  let broken: Error | undefined;
  // pg-pool only listens for errors on idle clients; a checked-out one whose connection dies would crash the process.
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on("error", onError);
  try {
    await client.query("BEGIN");
    try {
      const pass = await body(client);
      await client.query(pass.failed === undefined ? "COMMIT" : "ROLLBACK");
      return pass;
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => {
        broken ??= rollbackError;
      });
      throw error;
    }
  } catch (error) {
    broken ??= error as Error;
    throw unavailable(error);
  } finally {
    client.removeListener("error", onError);
    client.release(broken);
  }
}

/** Runs the handlers of `indexes` until one throws, which ends the pass (to be rolled back). */
async function withoutSavepoints(
  tx: PoolClient,
  batch: InboxBatch,
  indexes: readonly number[],
): Promise<Pass> {
  const fresh = await batch.inbox.record(
    tx,
    batch.consumer,
    indexes.map((index) => batch.ids[index]!),
  );
  const outcomes: InboxOutcome[] = [];
  for (const index of indexes) {
    if (!fresh.delete(batch.ids[index]!)) {
      outcomes.push({ kind: "duplicate" });
      continue;
    }
    try {
      await batch.run(index, tx);
    } catch (error) {
      return { outcomes, failed: { index, error } };
    }
    outcomes.push({ kind: "done" });
  }
  return { outcomes };
}

/** Runs the handlers of `indexes`, each in a savepoint: one that throws is rolled back alone. */
async function withSavepoints(tx: PoolClient, batch: InboxBatch, indexes: readonly number[]): Promise<Pass> {
  const ids = indexes.map((index) => batch.ids[index]!);
  const fresh = await batch.inbox.record(tx, batch.consumer, ids);
  const outcomes: InboxOutcome[] = [];
  const failed: string[] = [];
  for (const index of indexes) {
    const id = batch.ids[index]!;
    if (!fresh.delete(id)) {
      outcomes.push({ kind: "duplicate" });
      continue;
    }
    await tx.query(`SAVEPOINT ${savepoint}`);
    try {
      await batch.run(index, tx);
      outcomes.push({ kind: "done" });
    } catch (error) {
      // A failure of this statement is the transaction's, not the handler's: it fails the whole batch.
      await tx.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
      failed.push(id);
      outcomes.push({ kind: "failed", error });
    }
  }
  await batch.inbox.forget(tx, batch.consumer, failed);
  return { outcomes };
}

async function connect(db: Pool): Promise<PoolClient> {
  try {
    return await db.connect();
  } catch (error) {
    throw unavailable(error);
  }
}

function unavailable(error: unknown): MessagingError {
  if (error instanceof MessagingError && error.code === MessagingErrorCode.TransportUnavailable) return error;
  return new MessagingError(
    MessagingErrorCode.TransportUnavailable,
    `inbox transaction failed: ${(error as Error)?.message ?? String(error)}`,
    { cause: error },
  );
}
