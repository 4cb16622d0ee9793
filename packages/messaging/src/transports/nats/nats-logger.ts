/**
 * The logging methods the NATS transport calls; a pino `Logger` (what `createLogger` of
 * `@flotilla/observability` returns) fits as it is.
 */
export interface NatsTransportLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

/** The default logger: drops everything. */
export const silentNatsLogger: NatsTransportLogger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
};

/** True for an object with the four methods of {@link NatsTransportLogger}. */
export function isNatsTransportLogger(value: unknown): value is NatsTransportLogger {
  if (typeof value !== "object" || value === null) return false;
  const logger = value as Record<string, unknown>;
  return ["debug", "info", "warn", "error"].every((level) => typeof logger[level] === "function");
}
