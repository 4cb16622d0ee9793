import { fileURLToPath } from "node:url";
import { type Clock, ConfigReader, type Duration } from "@flotilla/resilience";
import pg from "pg";
import { advisoryLockKey } from "./advisory-lock-key.js";
import type { ClientSource } from "./client-source.js";
import { type DatabaseLogger, readDatabaseLogger } from "./database-logger.js";
import {
  MigrationChecksumError,
  MigrationFailedError,
  MigrationMissingError,
  MigrationOrderError,
} from "./migration-error.js";
import { type MigrationFile, readMigrations } from "./migration-file.js";

/** How {@link migrate} finds, checks and records migrations. */
export interface MigrateOptions {
  /** The folder of `NNNN_description.sql` files (a path, or a `file:` URL such as `new URL("./migrations/", import.meta.url)`). */
  readonly directory: string | URL;
  /** The table that records applied migrations, optionally schema-qualified. Default `"flotilla_migrations"`. */
  readonly table?: string;
  /** The `pg_advisory_lock` key held while migrating. Default {@link migrationLockKey}(`table`). */
  readonly lockKey?: bigint;
  /** Accept applied migrations whose files are gone instead of refusing. Default false. */
  readonly allowMissing?: boolean;
  /** Apply pending migrations numbered below the latest applied one instead of refusing. Default false. */
  readonly allowOutOfOrder?: boolean;
  /**
   * `statement_timeout` while migrating (waiting for the lock included), set on the session and
   * reset afterwards, so a pool's short timeout for requests does not cut a long migration.
   * Default 0: none.
   */
  readonly statementTimeout?: Duration;
  /** Where each applied migration is logged (info). Default: nowhere. */
  readonly logger?: DatabaseLogger;
  /** Measures each migration's duration. Default `systemClock`. */
  readonly clock?: Clock;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** File names applied by this call, in order. */
  readonly applied: string[];
  /** How many files were already applied (by this or another instance). */
  readonly skipped: number;
}

const known = [
  "directory",
  "table",
  "lockKey",
  "allowMissing",
  "allowOutOfOrder",
  "statementTimeout",
  "logger",
  "clock",
];
const tableName = /^(?:([a-z_][a-z0-9_]{0,62})\.)?([a-z_][a-z0-9_]{0,62})$/;
const minInt64 = -(2n ** 63n);
const maxInt64 = 2n ** 63n - 1n;

/** The advisory lock key {@link migrate} uses by default for `table`. */
export function migrationLockKey(table = "flotilla_migrations"): bigint {
  return advisoryLockKey(`flotilla:migrations:${table}`);
}

/**
 * Applies the pending SQL migrations of `options.directory` to the database behind `source`, in
 * version order, each in its own transaction together with its row in the migrations table
 * (version, file name, sha256 checksum, `applied_at`, `duration_ms`). Runs under a session
 * `pg_advisory_lock`, so when many instances start at once one applies each migration and the
 * others wait, then find nothing to do.
 *
 * Before applying anything it refuses, with a `MigrationError`, an applied migration whose file
 * changed ({@link MigrationChecksumError}, naming the file and both checksums) or is gone
 * ({@link MigrationMissingError}), and a pending one numbered below the latest applied
 * ({@link MigrationOrderError}). A failing migration is rolled back, later ones are not applied,
 * and {@link MigrationFailedError} names the file, the line and column, and has PostgreSQL's
 * error as `cause`. Each file runs as one multi-statement query, so it may not hold statements
 * that refuse a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`).
 *
 * @example
 * ```ts
 * const { applied } = await migrate(pool, { directory: new URL("./migrations/", import.meta.url) });
 * ```
 */
export async function migrate(source: ClientSource, options: MigrateOptions): Promise<MigrateResult> {
  const reader = new ConfigReader();
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  const directory = raw.directory;
  if (!(typeof directory === "string" && directory.length > 0) && !(directory instanceof URL)) {
    reader.issue("directory", "expected a folder path or a file: URL");
  }
  const table = reader.string(raw, "table", "", "flotilla_migrations");
  const parts = tableName.exec(table);
  if (parts === null) {
    reader.issue("table", `expected a lower-case identifier, optionally schema-qualified, got "${table}"`);
  }
  let lockKey = migrationLockKey(table);
  if (raw.lockKey !== undefined) {
    if (typeof raw.lockKey !== "bigint" || raw.lockKey < minInt64 || raw.lockKey > maxInt64) {
      reader.issue("lockKey", "expected a bigint within the signed 64-bit range");
    } else {
      lockKey = raw.lockKey;
    }
  }
  const allowMissing = reader.boolean(raw, "allowMissing", "", false);
  const allowOutOfOrder = reader.boolean(raw, "allowOutOfOrder", "", false);
  const statementTimeout = reader.duration(raw, "statementTimeout", "", 0);
  const logger = readDatabaseLogger(reader, raw, "logger");
  const clock = reader.clock(raw, "clock", "");
  reader.throwIfInvalid();

  const files = await readMigrations(directory as string | URL);
  const schema = parts?.[1];
  const qualified = [schema, parts?.[2]]
    .filter((p): p is string => p !== undefined)
    .map((p) => pg.escapeIdentifier(p))
    .join(".");
  const folder = directory instanceof URL ? fileURLToPath(directory) : (directory as string);

  const client = await source.connect();
  let broken: Error | undefined;
  // pg-pool listens for errors only on idle clients; one checked out whose connection dies would crash the process.
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on("error", onError);
  // A connection whose state is unknown is destroyed on release; closing it also drops its lock.
  const destroy = (error: Error) => {
    broken ??= error;
  };
  const query = async (sql: string, values?: unknown[]) => {
    try {
      return await client.query(sql, values);
    } catch (error) {
      // An error outside a migration's own SQL means the connection cannot be trusted to hold the lock.
      broken = error as Error;
      throw error;
    }
  };
  try {
    // Session-wide, so a pool's short statement_timeout cuts neither the wait for the lock nor a long migration.
    await query("SELECT set_config('statement_timeout', $1, false)", [`${Math.round(statementTimeout)}ms`]);
    await query("SELECT pg_advisory_lock($1::bigint)", [lockKey.toString()]);
    try {
      if (schema !== undefined) await query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
      await query(
        `CREATE TABLE IF NOT EXISTS ${qualified} (
          version bigint PRIMARY KEY,
          name text NOT NULL UNIQUE,
          checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now(),
          duration_ms integer NOT NULL
        )`,
      );
      const recorded = await query(
        `SELECT version::text AS version, name, checksum FROM ${qualified} ORDER BY version`,
      );
      const pending = check(
        files,
        recorded.rows as { version: string; name: string; checksum: string }[],
        folder,
        allowMissing,
        allowOutOfOrder,
      );

      const applied: string[] = [];
      for (const file of pending) {
        await query("BEGIN");
        try {
          const started = clock.now();
          await client.query(file.sql);
          const durationMs = Math.round(clock.now() - started);
          await client.query(
            `INSERT INTO ${qualified} (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)`,
            [file.version, file.name, file.checksum, durationMs],
          );
          await client.query("COMMIT");
          logger.info({ migration: file.name, durationMs }, "applied migration");
          applied.push(file.name);
        } catch (error) {
          await client.query("ROLLBACK").catch(destroy);
          throw new MigrationFailedError(file.name, locate(file.sql, error), error);
        }
      }
      return { applied, skipped: files.length - pending.length };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [lockKey.toString()]).catch(destroy);
    }
  } finally {
    // Back to the connection's own statement_timeout (from its startup parameters) before it returns to the pool.
    if (broken === undefined) await client.query("RESET statement_timeout").catch(destroy);
    client.removeListener("error", onError);
    client.release(broken);
  }
}

/** Validates the recorded migrations against the files; returns the files to apply, in order. */
function check(
  files: readonly MigrationFile[],
  recorded: readonly { version: string; name: string; checksum: string }[],
  folder: string,
  allowMissing: boolean,
  allowOutOfOrder: boolean,
): MigrationFile[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const missing: string[] = [];
  for (const row of recorded) {
    const file = byName.get(row.name);
    if (file === undefined) missing.push(row.name);
    else if (file.checksum !== row.checksum)
      throw new MigrationChecksumError(row.name, row.checksum, file.checksum);
  }
  if (missing.length > 0 && !allowMissing) throw new MigrationMissingError(missing, folder);

  const done = new Set(recorded.map((r) => r.name));
  const pending = files.filter((f) => !done.has(f.name));
  const latest = recorded.at(-1);
  if (latest !== undefined && !allowOutOfOrder) {
    const early = pending.filter((f) => BigInt(f.version) < BigInt(latest.version));
    if (early.length > 0)
      throw new MigrationOrderError(
        early.map((f) => f.name),
        latest.name,
      );
  }
  return pending;
}

/** The line and column of PostgreSQL's `position` (1-based, in characters) within `sql`. */
function locate(sql: string, error: unknown): { line: number; column: number } | undefined {
  const position = Number((error as { position?: unknown } | null)?.position);
  if (!Number.isInteger(position) || position < 1) return undefined;
  const before = sql.slice(0, position - 1);
  return { line: before.split("\n").length, column: position - before.lastIndexOf("\n") - 1 };
}
