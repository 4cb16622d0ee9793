import type { ConfigReader } from "@flotilla/resilience";

/** The logging methods the outbox relay uses; a pino `Logger` (`createLogger` of `@flotilla/observability`) fits. */
export interface OutboxLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

/** The default logger: drops everything. */
export const silentOutboxLogger: OutboxLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

/** Reads `raw[key]` as an {@link OutboxLogger}, {@link silentOutboxLogger} when absent; records a problem otherwise. */
export function readOutboxLogger(
  reader: ConfigReader,
  raw: Record<string, unknown>,
  key: string,
  path: string,
): OutboxLogger {
  const value = raw[key] as Partial<OutboxLogger> | null | undefined;
  if (value === undefined) return silentOutboxLogger;
  const methods = ["debug", "info", "warn", "error"] as const;
  if (typeof value !== "object" || value === null || methods.some((m) => typeof value[m] !== "function")) {
    reader.issue(
      path === "" ? key : `${path}.${key}`,
      "expected a logger with debug(), info(), warn() and error()",
    );
    return silentOutboxLogger;
  }
  return value as OutboxLogger;
}
