/**
 * The logging methods the consumer and the command requester use; a pino `Logger` (what
 * `createLogger` of `@flotilla/observability` returns) fits as it is. With `child`, each handler
 * gets a child logger bound to the message.
 */
export interface ConsumerLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child?(bindings: Record<string, unknown>): ConsumerLogger;
}

const ignore = (): void => {};

/** A logger that drops everything: the default. */
export const silentConsumerLogger: ConsumerLogger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
};

/** True when `value` has the four logging methods of a {@link ConsumerLogger}. */
export function isConsumerLogger(value: unknown): value is ConsumerLogger {
  const logger = value as Partial<ConsumerLogger> | null;
  return (
    typeof logger === "object" &&
    logger !== null &&
    typeof logger.debug === "function" &&
    typeof logger.info === "function" &&
    typeof logger.warn === "function" &&
    typeof logger.error === "function"
  );
}
