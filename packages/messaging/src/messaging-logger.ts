import type { ConfigReader } from "@flotilla/resilience";

/**
 * The logging methods every part of `@flotilla/messaging` writes to; a pino `Logger` (what
 * `createLogger` of `@flotilla/observability` returns) fits as it is. With `child`, the consumer
 * gives each handler a child logger bound to its message.
 */
export interface MessagingLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child?(bindings: Record<string, unknown>): MessagingLogger;
}

const ignore = (): void => {};

/** The default logger: drops everything. */
export const silentLogger: MessagingLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

const levels = ["debug", "info", "warn", "error"] as const;

/** True for an object with the four logging methods of a {@link MessagingLogger}. */
export function isMessagingLogger(value: unknown): value is MessagingLogger {
  if (typeof value !== "object" || value === null) return false;
  const logger = value as Record<string, unknown>;
  return levels.every((level) => typeof logger[level] === "function");
}

/** Reads an optional `logger` option: {@link silentLogger} when absent; records a problem at `path` when it is not a logger. */
export function readLogger(reader: ConfigReader, value: unknown, path: string): MessagingLogger {
  if (value === undefined) return silentLogger;
  if (isMessagingLogger(value)) return value;
  reader.issue(path, "expected a pino-compatible logger with debug(), info(), warn() and error()");
  return silentLogger;
}
