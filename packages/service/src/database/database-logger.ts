import type { ConfigReader } from "@flotilla/resilience";

/**
 * The few logging methods the database helpers use; a pino `Logger` (what `createLogger` of
 * `@flotilla/observability` returns) fits as it is.
 */
export interface DatabaseLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

function toStderr(level: string) {
  return (fields: object, message: string): void => {
    const { err, ...rest } = fields as { err?: unknown };
    const error =
      err instanceof Error ? { message: err.message, code: (err as { code?: unknown }).code } : err;
    process.stderr.write(
      `${JSON.stringify({ level, time: new Date().toISOString(), msg: message, ...rest, ...(error === undefined ? {} : { err: error }) })}\n`,
    );
  };
}

/**
 * The logger used when none is given: drops `info`, writes `warn` and `error` as JSON lines to
 * stderr, so an idle connection's error is seen even in a service that configured no logger.
 */
export const defaultDatabaseLogger: DatabaseLogger = {
  info: () => {},
  warn: toStderr("warn"),
  error: toStderr("error"),
};

/**
 * Reads `raw[key]` as a {@link DatabaseLogger}, or {@link defaultDatabaseLogger} when absent;
 * records a problem in `reader` for anything without `info`, `warn` and `error` methods.
 */
export function readDatabaseLogger(
  reader: ConfigReader,
  raw: Record<string, unknown>,
  key: string,
): DatabaseLogger {
  const value = raw[key] as Partial<DatabaseLogger> | null | undefined;
  if (value === undefined) return defaultDatabaseLogger;
  if (
    typeof value !== "object" ||
    value === null ||
    typeof value.info !== "function" ||
    typeof value.warn !== "function" ||
    typeof value.error !== "function"
  ) {
    reader.issue(key, "expected a logger with info(), warn() and error()");
    return defaultDatabaseLogger;
  }
  return value as DatabaseLogger;
}
