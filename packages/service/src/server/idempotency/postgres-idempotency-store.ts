import { randomUUID } from "node:crypto";
import { type Clock, ConfigReader, type Duration, systemClock, type TimerHandle } from "@flotilla/resilience";
import type { HandlerDatabase } from "../handler-context.js";
import type {
  IdempotencyBegin,
  IdempotencyStore,
  IdempotencyTimes,
  StoredResponse,
} from "./idempotency-store.js";

/** Options of {@link postgresIdempotencyStore}. */
export interface PostgresIdempotencyStoreOptions {
  /** The service's own database (a `pg.Pool`). Not closed by the store. */
  readonly db: HandlerDatabase;
  /** Table name, optionally schema-qualified (`app.idempotency_keys`). Default `flotilla_idempotency`. */
  readonly table?: string;
  /** How often expired keys are deleted; `0` never (call `sweep()` yourself). Default `"10m"`. */
  readonly sweepInterval?: Duration;
  /** Timer source of the sweeps. Default the system clock. */
  readonly clock?: Clock;
}

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * An {@link IdempotencyStore} in a table of the service's own PostgreSQL database, shared by all
 * its instances. A key is claimed with one `INSERT … ON CONFLICT DO UPDATE … WHERE` that takes it
 * only when it is free, expired, or locked by a request whose lock ran out, so of two instances
 * receiving the same key at once exactly one runs the request. Times are the database's clock, so
 * instances' clocks need not agree. The table is created on first use (under an advisory lock, so
 * instances starting together do not race).
 *
 * ```ts
 * const store = await postgresIdempotencyStore({ db: pool });
 * ```
 */
export class PostgresIdempotencyStore implements IdempotencyStore {
  /** The quoted table name in use. */
  readonly table: string;
  readonly #db: HandlerDatabase;
  readonly #clock: Clock;
  readonly #sweepMs: number;
  #timer: TimerHandle | undefined;
  #closed = false;

  /** Validates `options`; call {@link PostgresIdempotencyStore.init} before use (the factory does). */
  constructor(options: PostgresIdempotencyStoreOptions) {
    const reader = new ConfigReader();
    const o = reader.object(options, "");
    reader.knownKeys(o, ["db", "table", "sweepInterval", "clock"], "");
    if (typeof options?.db?.query !== "function") reader.issue("db", "expected a pool with query()");
    const table = reader.string(o, "table", "", "flotilla_idempotency");
    const parts = table.split(".");
    if (parts.length > 2 || !parts.every((p) => identifier.test(p))) {
      reader.issue("table", `expected [schema.]name in lower-case letters, digits and _, got "${table}"`);
    }
    this.#sweepMs = reader.duration(o, "sweepInterval", "", 600_000);
    reader.throwIfInvalid();
    this.table = parts.map((p) => `"${p}"`).join(".");
    this.#db = options.db;
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates the table and its expiry index if missing, then starts the sweeps. */
  async init(): Promise<void> {
    const lockKey = `flotilla.idempotency:${this.table}`;
    // A DO block is one transaction: the advisory lock is held until the table exists, since
    // concurrent CREATE TABLE IF NOT EXISTS can still fail on the catalog's unique index.
    await this.#db.query(`DO $$ BEGIN
      PERFORM pg_advisory_xact_lock(hashtext('${lockKey.replaceAll("'", "''")}'));
      CREATE TABLE IF NOT EXISTS ${this.table} (
        route text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        token text NOT NULL,
        status integer,
        headers jsonb,
        body text,
        locked_until timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (route, key)
      );
      CREATE INDEX IF NOT EXISTS ${this.#indexName()} ON ${this.table} (expires_at);
    END $$`);
    this.#schedule();
  }

  async begin(
    route: string,
    key: string,
    fingerprint: string,
    times: IdempotencyTimes,
  ): Promise<IdempotencyBegin> {
    // A claim can lose to a release between its INSERT and SELECT; the next try then succeeds.
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = randomUUID();
      const claimed = await this.#db.query(
        `INSERT INTO ${this.table} AS r (route, key, fingerprint, token, locked_until, expires_at)
         VALUES ($1, $2, $3, $4,
                 clock_timestamp() + $5::double precision * interval '1 millisecond',
                 clock_timestamp() + $6::double precision * interval '1 millisecond')
         ON CONFLICT (route, key) DO UPDATE
           SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token, status = NULL,
               headers = NULL, body = NULL, locked_until = EXCLUDED.locked_until,
               expires_at = EXCLUDED.expires_at
           WHERE r.expires_at <= clock_timestamp()
              OR (r.status IS NULL AND r.locked_until <= clock_timestamp())
         RETURNING token`,
        [route, key, fingerprint, token, times.lockMs, times.windowMs],
      );
      if (claimed.rows.length > 0) return { outcome: "started", token };
      const found = await this.#db.query<{
        fingerprint: string;
        status: number | null;
        headers: Record<string, string> | null;
        body: string | null;
      }>(`SELECT fingerprint, status, headers, body FROM ${this.table} WHERE route = $1 AND key = $2`, [
        route,
        key,
      ]);
      const row = found.rows[0];
      if (row === undefined) continue;
      if (row.fingerprint !== fingerprint) return { outcome: "mismatch" };
      if (row.status === null) return { outcome: "in-progress" };
      return {
        outcome: "completed",
        response: { status: row.status, headers: row.headers ?? {}, body: row.body ?? undefined },
      };
    }
    return { outcome: "in-progress" };
  }

  async complete(route: string, key: string, token: string, response: StoredResponse): Promise<void> {
    await this.#db.query(
      `UPDATE ${this.table} SET status = $4, headers = $5::jsonb, body = $6
       WHERE route = $1 AND key = $2 AND token = $3`,
      [route, key, token, response.status, JSON.stringify(response.headers), response.body ?? null],
    );
  }

  async release(route: string, key: string, token: string): Promise<void> {
    await this.#db.query(
      `DELETE FROM ${this.table} WHERE route = $1 AND key = $2 AND token = $3 AND status IS NULL`,
      [route, key, token],
    );
  }

  /** Deletes the expired keys now; returns how many. */
  async sweep(): Promise<number> {
    const result = await this.#db.query(`DELETE FROM ${this.table} WHERE expires_at <= clock_timestamp()`);
    return result.rowCount ?? 0;
  }

  /** Stops the sweeps. The table and the pool stay. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    return Promise.resolve();
  }

  #schedule(): void {
    if (this.#sweepMs === 0 || this.#closed) return;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.sweep().then(
          () => this.#schedule(),
          () => this.#schedule(),
        );
      },
      this.#sweepMs,
      true,
    );
  }

  #indexName(): string {
    const bare = this.table.split(".").at(-1)!.replaceAll('"', "");
    return `"${bare.slice(0, 50)}_expires_idx"`;
  }
}

/** Creates a {@link PostgresIdempotencyStore} and its table (if missing). */
export async function postgresIdempotencyStore(
  options: PostgresIdempotencyStoreOptions,
): Promise<PostgresIdempotencyStore> {
  const store = new PostgresIdempotencyStore(options);
  await store.init();
  return store;
}
