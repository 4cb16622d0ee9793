import { type Clock, ConfigReader, type Duration, isConfigError } from "@flotilla/resilience";
import pg from "pg";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { type MessagingLogger, readLogger } from "../../messaging-logger.js";

/** Options of {@link postgresTransport}. Give exactly one of `url` and `pool`. */
export interface PostgresTransportOptions {
  /** Connection string of the bus database; the transport opens and closes its own pool. */
  readonly url?: string;
  /** A pool to run on instead of `url`; the caller owns it and ends it after `close()`. */
  readonly pool?: pg.Pool;
  /** Schema of the bus tables, created on first use. Default `flotilla_bus`. */
  readonly schema?: string;
  /** How often an idle subscription looks for messages when no NOTIFY woke it. Default `"1s"`. */
  readonly pollInterval?: Duration;
  /** How long a delivered message stays hidden from other consumers before it counts as lost. Default `"30s"`. */
  readonly visibilityTimeout?: Duration;
  /** How often the visibility of unsettled deliveries is extended. Default a third of `visibilityTimeout`. */
  readonly heartbeatInterval?: Duration;
  /** Delay before a message whose handler threw without settling it is delivered again. Default `"1s"`. */
  readonly retryDelayOnThrow?: Duration;
  /** Where warnings (lost database, reconnects, handler failures) go. Default silent. */
  readonly logger?: MessagingLogger;
  /** Timer source of polling, heartbeats and back-off. Default the system clock. */
  readonly clock?: Clock;
}

/** {@link PostgresTransportOptions} checked, with defaults, in milliseconds. */
export interface ResolvedPostgresTransportOptions {
  readonly pool: pg.Pool;
  /** Whether the transport created `pool` and so ends it on close. */
  readonly ownsPool: boolean;
  /** Settings of the dedicated LISTEN connection: the pool's. */
  readonly listenConnection: pg.ClientConfig;
  readonly schema: string;
  readonly pollInterval: number;
  readonly visibilityTimeout: number;
  readonly heartbeatInterval: number;
  readonly retryDelayOnThrow: number;
  readonly logger: MessagingLogger;
  readonly clock: Clock;
}

const optionKeys = [
  "url",
  "pool",
  "schema",
  "pollInterval",
  "visibilityTimeout",
  "heartbeatInterval",
  "retryDelayOnThrow",
  "logger",
  "clock",
] as const;

// Unquoted-identifier rules keep the schema usable as a LISTEN channel and in hand-written SQL.
const schemaName = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks {@link PostgresTransportOptions} and applies the defaults; creates the pool for `url`.
 * Throws `FLT_MESSAGING_CONFIG_INVALID` listing every bad option by name.
 */
export function resolvePostgresTransportOptions(
  options: PostgresTransportOptions,
): ResolvedPostgresTransportOptions {
  const reader = new ConfigReader();
  const o = reader.object(options, "");
  reader.knownKeys(o, optionKeys, "");
  const url = o.url === undefined ? undefined : reader.string(o, "url", "", "");
  const pool = o.pool as pg.Pool | undefined;
  if (
    pool !== undefined &&
    (typeof pool !== "object" ||
      pool === null ||
      typeof pool.query !== "function" ||
      typeof pool.connect !== "function")
  ) {
    reader.issue("pool", "expected a pg.Pool");
  }
  if ((url === undefined) === (pool === undefined)) reader.issue("url", "give exactly one of url and pool");
  const schema = reader.string(o, "schema", "", "flotilla_bus");
  if (!schemaName.test(schema)) {
    reader.issue(
      "schema",
      `expected lower-case letters, digits and _ (at most 63, not starting with a digit), got "${schema}"`,
    );
  }
  const pollInterval = reader.duration(o, "pollInterval", "", 1000, { above: 0 });
  const visibilityTimeout = reader.duration(o, "visibilityTimeout", "", 30_000, { min: 10 });
  const heartbeatInterval = reader.duration(o, "heartbeatInterval", "", visibilityTimeout / 3, {
    above: 0,
    max: visibilityTimeout,
  });
  if (o.heartbeatInterval !== undefined && heartbeatInterval >= visibilityTimeout) {
    reader.issue(
      "heartbeatInterval",
      `must be shorter than visibilityTimeout (${visibilityTimeout} ms), got ${heartbeatInterval} ms`,
    );
  }
  const retryDelayOnThrow = reader.duration(o, "retryDelayOnThrow", "", 1000);
  const logger = readLogger(reader, o.logger, "logger");
  const clock = reader.clock(o, "clock", "");
  try {
    reader.throwIfInvalid();
  } catch (error) {
    if (!isConfigError(error)) throw error;
    throw new MessagingError(MessagingErrorCode.ConfigInvalid, `postgresTransport: ${error.message}`, {
      cause: error,
    });
  }
  const connection: pg.ClientConfig = pool?.options ?? {
    connectionString: url,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
  };
  return {
    pool: pool ?? new pg.Pool(connection),
    ownsPool: pool === undefined,
    listenConnection: connection,
    schema,
    pollInterval,
    visibilityTimeout,
    heartbeatInterval,
    retryDelayOnThrow,
    logger,
    clock,
  };
}
