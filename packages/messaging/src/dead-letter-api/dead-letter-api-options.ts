import { ConfigReader, isFlotillaError } from "@flotilla/resilience";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { type MessagingLogger, readLogger } from "../messaging-logger.js";

/** Options of {@link deadLetterApi}. */
export interface DeadLetterApiOptions {
  /** Path prefix of every route, starting with `/`, without a trailing `/`. Default `/dead-letters`. */
  readonly basePath?: string;
  /** Largest request body accepted, in bytes. Default 65 536 (64 KiB). */
  readonly maxBodyBytes?: number;
  /** Where unexpected failures (answered with 500) go. Default: silent. */
  readonly logger?: MessagingLogger;
}

/** {@link DeadLetterApiOptions} after validation, defaults applied. */
export interface ResolvedDeadLetterApiOptions {
  readonly basePath: string;
  readonly maxBodyBytes: number;
  readonly logger: MessagingLogger;
}

const optionKeys = ["basePath", "maxBodyBytes", "logger"] as const;
const basePathPattern = /^(?:\/[A-Za-z0-9._~-]+)+$/;

/**
 * Validates {@link DeadLetterApiOptions}; throws a `FLT_MESSAGING_CONFIG_INVALID`
 * {@link MessagingError} naming every bad option (`deadLetterApi.basePath: ...`).
 */
export function parseDeadLetterApiOptions(raw: unknown): ResolvedDeadLetterApiOptions {
  const reader = new ConfigReader();
  const path = "deadLetterApi";
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, optionKeys, path);
  const basePath = reader.string(obj, "basePath", path, "/dead-letters");
  if (!basePathPattern.test(basePath)) {
    reader.issue(
      `${path}.basePath`,
      `must be "/"-separated segments of letters, digits, ".", "_", "~" or "-", starting with "/" and not ending with "/", got ${JSON.stringify(basePath)}`,
    );
  }
  const maxBodyBytes = reader.number(obj, "maxBodyBytes", path, 65_536, { min: 1, integer: true });
  const logger = readLogger(reader, obj.logger, `${path}.logger`);

  try {
    reader.throwIfInvalid();
  } catch (cause) {
    if (!isFlotillaError(cause)) throw cause;
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `invalid dead-letter API options: ${cause.message}`,
      {
        cause,
      },
    );
  }
  return { basePath, maxBodyBytes, logger };
}
