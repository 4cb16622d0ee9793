import { type HealthCheck, postgresCheck } from "@flotilla/observability";
import type pg from "pg";
import type { PoolClient, QueryResult, QueryResultRow } from "pg";
import { type MigrateOptions, type MigrateResult, migrate } from "./migrate.js";
import { type ServicePoolOptions, servicePool } from "./service-pool.js";
import { type TransactionOptions, withTransaction } from "./with-transaction.js";

/** How {@link database} connects: the options of {@link servicePool}. */
export type DatabaseOptions = ServicePoolOptions;

/**
 * A service's database: its pool, with queries, transactions, migrations and a health check in
 * one place. What a handler's context carries as `db`.
 */
export class Database {
  /** The underlying `pg` pool, for what the helpers do not cover (`LISTEN`, cursors, COPY). */
  readonly pool: pg.Pool;
  #closing: Promise<void> | undefined;

  /** Wraps an existing pool; {@link database} builds one from options. */
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Runs one statement on any free connection, with `$1`-style parameters. */
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    return this.pool.query<R>(text, values as unknown[] | undefined);
  }

  /** Runs `fn` in a transaction; see {@link withTransaction}. */
  transaction<T>(
    fn: (client: PoolClient, attempt: number) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    return withTransaction(this.pool, fn, options);
  }

  /** Applies the pending migrations of a folder; see {@link migrate}. */
  migrate(options: MigrateOptions): Promise<MigrateResult> {
    return migrate(this.pool, options);
  }

  /**
   * A check for `healthChecks` of `@flotilla/observability` (`postgresCheck` on this pool): passes
   * when `SELECT 1` answers, with the pool's `total`, `idle` and `waiting` counts as details.
   *
   * @example
   * ```ts
   * const health = healthChecks({ ready: { db: db.health() } });
   * ```
   */
  health(): HealthCheck {
    const check = postgresCheck(this.pool);
    return async (context) => {
      await check(context);
      const { totalCount: total, idleCount: idle, waitingCount: waiting } = this.pool;
      return { details: { total, idle, waiting } };
    };
  }

  /** Waits for checked-out connections to be released, then closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.pool.end();
    return this.#closing;
  }
}

/**
 * A {@link Database} on a new {@link servicePool}. Throws a `ConfigError` naming each bad option.
 *
 * @example
 * ```ts
 * const { url } = await provisionDatabase({ service: "orders" });
 * const db = database({ url, statementTimeout: "2s" });
 * await db.migrate({ directory: new URL("./migrations/", import.meta.url) });
 * const { rows } = await db.query<{ id: string }>("SELECT id FROM orders WHERE customer = $1", [customer]);
 * await db.close();
 * ```
 */
export function database(options: DatabaseOptions): Database {
  return new Database(servicePool(options));
}
