import { ConfigReader, type Duration } from "@flotilla/resilience";
import pg from "pg";
import { readConnectionUrl, redactUrl } from "./connection-url.js";
import { type DatabaseLogger, readDatabaseLogger } from "./database-logger.js";

/** How {@link servicePool} builds a pool; durations are milliseconds or strings such as `"5s"`. */
export interface ServicePoolOptions {
  /** The service's connection string, as {@link provisionDatabase} returns it. */
  readonly url: string;
  /**
   * Shown as `application_name` in `pg_stat_activity` and the server log: the service's name.
   * Default: the URL's `application_name` (provisioning sets it to the service's name).
   */
  readonly applicationName?: string;
  /** Most connections open at once. Default 10. */
  readonly max?: number;
  /** Connections kept open even when idle. Default 0. */
  readonly min?: number;
  /** How long an idle connection is kept before it is closed. Default `"10s"`. */
  readonly idleTimeout?: Duration;
  /** How long to wait for a new connection (and for a free one when all are busy). Default `"5s"`. */
  readonly connectionTimeout?: Duration;
  /** Server-side `statement_timeout` of every connection. Default: none (the server's setting). */
  readonly statementTimeout?: Duration;
  /** Server-side `idle_in_transaction_session_timeout`. Default: none (the server's setting). */
  readonly idleInTransactionTimeout?: Duration;
  /** Connections older than this are closed once released (rotates them across a failover). Default: none. */
  readonly maxLifetime?: Duration;
  /** Where a failed idle connection is reported. Default: stderr. */
  readonly logger?: DatabaseLogger;
}

const known = [
  "url",
  "applicationName",
  "max",
  "min",
  "idleTimeout",
  "connectionTimeout",
  "statementTimeout",
  "idleInTransactionTimeout",
  "maxLifetime",
  "logger",
];

/**
 * A `pg` pool for a service's database, with bounded waits (`connectionTimeout` 5 s, idle
 * connections closed after 10 s), TCP keep-alive, and the service's name as `application_name`.
 * An idle connection that fails (the server restarted, a proxy cut it) is logged and dropped
 * instead of crashing the process: `pg` emits `error` on the pool, which throws without a listener.
 * Throws a `ConfigError` naming each bad option.
 *
 * @example
 * ```ts
 * const pool = servicePool({ url, statementTimeout: "2s", logger });
 * const { rows } = await pool.query("SELECT now()");
 * ```
 */
export function servicePool(options: ServicePoolOptions): pg.Pool {
  const reader = new ConfigReader();
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  if (raw.url === undefined) reader.issue("url", "is required");
  const url = readConnectionUrl(reader, raw, "url");
  const applicationName =
    raw.applicationName === undefined ? undefined : reader.string(raw, "applicationName", "", "");
  const max = reader.number(raw, "max", "", 10, { min: 1, integer: true });
  const min = reader.number(raw, "min", "", 0, { min: 0, integer: true });
  if (min > max) reader.issue("min", `must be at most max (${max}), got ${min}`);
  const idleTimeout = reader.duration(raw, "idleTimeout", "", 10_000);
  const connectionTimeout = reader.duration(raw, "connectionTimeout", "", 5000, { above: 0 });
  const statementTimeout = reader.optionalDuration(raw, "statementTimeout", "", { above: 0 });
  const idleInTransactionTimeout = reader.optionalDuration(raw, "idleInTransactionTimeout", "", { above: 0 });
  const maxLifetime = reader.optionalDuration(raw, "maxLifetime", "", { min: 1000 });
  const logger = readDatabaseLogger(reader, raw, "logger");
  reader.throwIfInvalid();

  // pg lets the connection string's parameters override the config object's, so the name goes in the URL.
  if (applicationName !== undefined) url.searchParams.set("application_name", applicationName);
  const pool = new pg.Pool({
    connectionString: url.href,
    max,
    min,
    idleTimeoutMillis: idleTimeout,
    connectionTimeoutMillis: connectionTimeout,
    keepAlive: true,
    ...(statementTimeout === undefined ? {} : { statement_timeout: Math.round(statementTimeout) }),
    ...(idleInTransactionTimeout === undefined
      ? {}
      : { idle_in_transaction_session_timeout: Math.round(idleInTransactionTimeout) }),
    ...(maxLifetime === undefined ? {} : { maxLifetimeSeconds: Math.ceil(maxLifetime / 1000) }),
  });
  const where = redactUrl(url);
  pool.on("error", (err) => {
    logger.error(
      { err, url: where },
      "idle PostgreSQL connection failed; the pool dropped it and opens a new one when needed",
    );
  });
  return pool;
}
