import type { Queryable } from "@flotilla/messaging";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import { defaultParticipantTables, type ParticipantTables } from "./participant-tables.js";

/** Options of {@link oncePerKey}. */
export interface OncePerKeyOptions {
  /** Where results are kept. Default {@link defaultParticipantTables} (install it first). */
  readonly tables?: ParticipantTables;
}

const savepoint = "flotilla_once_per_key";

/**
 * Runs `fn` in the caller's transaction `tx` only the first time `key` is seen, and returns its
 * result; for a key already recorded it returns the stored result without running `fn`. For an
 * in-process saga participant: pass the step's idempotency key (`sagaStepKey(…)`), and a retried
 * invocation or compensation returns what the first one did.
 *
 * The key is claimed with `INSERT … ON CONFLICT DO NOTHING` before `fn` runs, so a concurrent
 * call with the same key (another transaction) waits until this one ends: after a commit it
 * returns the stored result, after a rollback it runs `fn` itself. `fn` runs inside a savepoint:
 * when it throws, the claim is undone with its effects and the error is rethrown, so the caller
 * may carry on with its transaction. The result must be JSON (it is stored as `jsonb`); a
 * repeated call returns it as parsed JSON (`Date` becomes a string, `undefined` stays `undefined`).
 *
 * `tx` must be the client of an open transaction (`BEGIN` issued): with a pool the claim would
 * commit on its own.
 *
 * @example
 * ```ts
 * const charge = await withTransaction(pool, (tx) =>
 *   oncePerKey(tx, ctx.idempotencyKey, async () => {
 *     const { rows } = await tx.query("INSERT INTO charges (order_id, amount) VALUES ($1, $2) RETURNING id", [orderId, amount]);
 *     return { chargeId: rows[0].id };
 *   }),
 * );
 * ```
 */
export async function oncePerKey<T>(
  tx: Queryable,
  key: string,
  fn: () => Promise<T>,
  options: OncePerKeyOptions = {},
): Promise<T> {
  if (typeof key !== "string" || key === "") {
    throw new SagaError(
      SagaErrorCode.OptionsInvalid,
      `oncePerKey: key must be a non-empty string, got ${String(key)}`,
    );
  }
  if (typeof fn !== "function") {
    throw new SagaError(SagaErrorCode.OptionsInvalid, `oncePerKey: fn must be a function, got ${typeof fn}`);
  }
  const tables = options.tables ?? defaultParticipantTables;
  await tx.query(`SAVEPOINT ${savepoint}`);
  let result: T;
  try {
    const claimed = await tx.query(
      `INSERT INTO ${tables.keys} (key) VALUES ($1) ON CONFLICT DO NOTHING RETURNING key`,
      [key],
    );
    if (claimed.rowCount === 0) {
      const { rows } = await tx.query(`SELECT result FROM ${tables.keys} WHERE key = $1`, [key]);
      await tx.query(`RELEASE SAVEPOINT ${savepoint}`);
      return (rows[0]?.result as { value?: T } | null)?.value as T;
    }
    result = await fn();
    await tx.query(`UPDATE ${tables.keys} SET result = $2::jsonb WHERE key = $1`, [
      key,
      storedResult(key, result),
    ]);
  } catch (error) {
    try {
      await tx.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
      await tx.query(`RELEASE SAVEPOINT ${savepoint}`);
    } catch {
      // The transaction itself is broken (a lost connection): the caller sees that on its next statement.
    }
    throw error;
  }
  await tx.query(`RELEASE SAVEPOINT ${savepoint}`);
  return result;
}

/** `{ value }` as JSON text, so that `undefined` and `null` results survive the round trip. */
function storedResult(key: string, value: unknown): string {
  try {
    return JSON.stringify({ value });
  } catch (cause) {
    throw new SagaError(
      SagaErrorCode.ResultInvalid,
      `oncePerKey: the result for key "${key}" is not JSON: ${(cause as Error).message}`,
      {},
      { cause },
    );
  }
}
