import { type Clock, ConfigReader, isFlotillaError } from "@flotilla/resilience";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";

/**
 * The logging methods the memory transport calls; a pino `Logger` (what `createLogger` of
 * `@flotilla/observability` returns) fits as it is.
 */
export interface MemoryTransportLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

const ignore = (): void => {};

/** The default logger: drops everything. */
export const silentMemoryTransportLogger: MemoryTransportLogger = { debug: ignore, warn: ignore };

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /** Times delayed publishes and retries. Default: the system clock. */
  readonly clock?: Clock;
  /** How long a message waits before redelivery when its handler threw without settling. Default 1000. */
  readonly retryDelayOnThrowMs?: number;
  /** Where handler failures go. Default: silent. */
  readonly logger?: MemoryTransportLogger;
}

/** {@link MemoryTransportOptions} after validation, defaults applied. */
export interface ResolvedMemoryTransportOptions {
  readonly clock: Clock;
  readonly retryDelayOnThrowMs: number;
  readonly logger: MemoryTransportLogger;
}

const optionKeys = ["clock", "retryDelayOnThrowMs", "logger"] as const;

/**
 * Validates {@link MemoryTransportOptions}; throws a `FLT_MESSAGING_CONFIG_INVALID`
 * {@link MessagingError} naming every bad option (`memory.retryDelayOnThrowMs: ...`).
 */
export function parseMemoryTransportOptions(raw: unknown): ResolvedMemoryTransportOptions {
  const reader = new ConfigReader();
  const path = "memory";
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, optionKeys, path);
  const clock = reader.clock(obj, "clock", path);
  const retryDelayOnThrowMs = reader.number(obj, "retryDelayOnThrowMs", path, 1_000, {
    min: 0,
    max: 2 ** 31 - 1,
  });
  const logger = readLogger(reader, obj.logger, `${path}.logger`);
  try {
    reader.throwIfInvalid();
  } catch (cause) {
    if (!isFlotillaError(cause)) throw cause;
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `invalid memory transport options: ${cause.message}`,
      {
        cause,
      },
    );
  }
  return { clock, retryDelayOnThrowMs, logger };
}

function readLogger(reader: ConfigReader, value: unknown, path: string): MemoryTransportLogger {
  if (value === undefined) return silentMemoryTransportLogger;
  const logger = value as Partial<MemoryTransportLogger> | null;
  if (
    typeof logger !== "object" ||
    logger === null ||
    typeof logger.debug !== "function" ||
    typeof logger.warn !== "function"
  ) {
    reader.issue(path, "expected a pino-compatible logger with debug() and warn()");
    return silentMemoryTransportLogger;
  }
  return logger as MemoryTransportLogger;
}
