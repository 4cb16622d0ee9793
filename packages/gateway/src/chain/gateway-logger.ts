/** The logging a gateway part needs: pino's signature, so a pino logger fits as is. */
export interface GatewayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** A logger that drops everything. */
export const silentLogger: GatewayLogger = {
  info() {},
  warn() {},
  error() {},
  debug() {},
};
