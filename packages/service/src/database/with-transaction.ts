import { type Backoff, type Clock, ConfigReader, fullJitterBackoff, sleep } from "@flotilla/resilience";
import type { PoolClient } from "pg";
import type { ClientSource } from "./client-source.js";

/** PostgreSQL's transaction isolation levels (`READ UNCOMMITTED` behaves as `read committed`). */
export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

/** How {@link withTransaction} runs its transaction. */
export interface TransactionOptions {
  /** Default: the server's `default_transaction_isolation` (normally `read committed`). */
  readonly isolation?: IsolationLevel;
  /** `BEGIN … READ ONLY`. Default false. */
  readonly readOnly?: boolean;
  /**
   * Times to run the whole transaction again after a serialization failure (SQLSTATE 40001) or a
   * deadlock (40P01), which PostgreSQL expects the client to retry. Default 0, at most 10.
   */
  readonly retries?: number;
  /**
   * Milliseconds to wait before each retry, so that two transactions that keep colliding (a
   * deadlock's victim retrying at once often meets the survivor again) drift apart. Default: full
   * jitter between 0 and 10 ms × 2^(attempt − 1), at most 250 ms.
   */
  readonly backoff?: Backoff;
  /** Called with the error before each retry, with the number of the attempt that failed. */
  readonly onRetry?: (error: unknown, attempt: number) => void;
  /** Times the waits between retries. Default `systemClock`. */
  readonly clock?: Clock;
}

/** The SQLSTATEs after which {@link withTransaction} may retry: serialization failure, deadlock. */
export const retryableTransactionCodes: readonly string[] = ["40001", "40P01"];

/** True for a PostgreSQL error whose transaction can simply be run again (see {@link retryableTransactionCodes}). */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && retryableTransactionCodes.includes(code);
}

const isolationLevels = ["read committed", "repeatable read", "serializable"] as const;
const known = ["isolation", "readOnly", "retries", "backoff", "onRetry", "clock"];
const defaultBackoff = fullJitterBackoff({ initialDelay: 10, maxDelay: 250 });

/**
 * Runs `fn` in a transaction on one connection from `source`: `BEGIN`, then `COMMIT` when `fn`
 * resolves or `ROLLBACK` when it throws (rethrowing its error unchanged). The connection is
 * always released, and destroyed instead when it could not be rolled back. With `retries`, a
 * transaction that failed with a serialization failure or deadlock, in `fn` or at `COMMIT`, is
 * run again from `BEGIN` on a fresh connection after a short jittered `backoff` (no connection is
 * held while waiting); `fn` must therefore have no effects outside the database. `attempt`
 * counts from 1. Throws a `ConfigError` for bad options.
 *
 * @example
 * ```ts
 * const total = await withTransaction(pool, async (client) => {
 *   await client.query("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [amount, from]);
 *   await client.query("UPDATE accounts SET balance = balance + $1 WHERE id = $2", [amount, to]);
 * }, { isolation: "serializable", retries: 5 });
 * ```
 */
export async function withTransaction<T>(
  source: ClientSource,
  fn: (client: PoolClient, attempt: number) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const reader = new ConfigReader();
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  const isolation =
    raw.isolation === undefined
      ? undefined
      : reader.oneOf(raw, "isolation", "", isolationLevels, "read committed");
  const readOnly = reader.boolean(raw, "readOnly", "", false);
  const retries = reader.number(raw, "retries", "", 0, { min: 0, max: 10, integer: true });
  const backoff = reader.fn<Backoff>(raw, "backoff", "") ?? defaultBackoff;
  const onRetry = reader.fn<(error: unknown, attempt: number) => void>(raw, "onRetry", "");
  const clock = reader.clock(raw, "clock", "");
  reader.throwIfInvalid();

  const begin = `BEGIN${isolation === undefined ? "" : ` ISOLATION LEVEL ${isolation.toUpperCase()}`}${readOnly ? " READ ONLY" : ""}`;
  let delay = 0;
  for (let attempt = 1; ; attempt++) {
    if (delay > 0) await sleep(delay, clock);
    const client = await source.connect();
    let broken: Error | undefined;
    // pg-pool listens for errors only on idle clients; one checked out whose connection dies would crash the process.
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on("error", onError);
    try {
      try {
        await client.query(begin);
      } catch (error) {
        broken = error as Error;
        throw error;
      }
      try {
        const result = await fn(client, attempt);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw error;
      }
    } catch (error) {
      if (attempt > retries || !isRetryableTransactionError(error)) throw error;
      onRetry?.(error, attempt);
      const next = Number(backoff(attempt, error, delay));
      delay = Number.isFinite(next) && next > 0 ? next : 0;
    } finally {
      client.removeListener("error", onError);
      client.release(broken);
    }
  }
}
