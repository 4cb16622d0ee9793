/**
 * The few logging methods the registry client side uses; a pino `Logger` (what `createLogger` of
 * `@flotilla/observability` returns) fits as it is.
 */
export interface ClientLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

/** A {@link ClientLogger} that drops everything: the default when no logger is given. */
export const silentLogger: ClientLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
