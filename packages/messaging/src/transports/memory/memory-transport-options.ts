import { type Clock, ConfigReader, isFlotillaError } from "@flotilla/resilience";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { type MessagingLogger, readLogger } from "../../messaging-logger.js";

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /** Times delayed publishes and retries. Default: the system clock. */
  readonly clock?: Clock;
  /** How long a message waits before redelivery when its handler threw without settling. Default 1000. */
  readonly retryDelayOnThrowMs?: number;
  /** Where handler failures go. Default: silent. */
  readonly logger?: MessagingLogger;
}

/** {@link MemoryTransportOptions} after validation, defaults applied. */
export interface ResolvedMemoryTransportOptions {
  readonly clock: Clock;
  readonly retryDelayOnThrowMs: number;
  readonly logger: MessagingLogger;
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
