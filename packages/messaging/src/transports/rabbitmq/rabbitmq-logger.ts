/**
 * The logging methods the RabbitMQ transport calls; a pino `Logger` (what `createLogger` of
 * `@flotilla/observability` returns) fits as it is.
 */
export interface RabbitMqLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

/** The default logger: drops everything. */
export const silentRabbitMqLogger: RabbitMqLogger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
};
