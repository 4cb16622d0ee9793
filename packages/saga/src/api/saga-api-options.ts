import { readLogger } from "@flotilla/messaging";
import { ConfigReader } from "@flotilla/resilience";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import type { SagaLogger } from "../saga-logger.js";

/** Options of {@link sagaApi}. */
export interface SagaApiOptions {
  /** Path prefix of every route, starting with `/`, without a trailing `/`. Default `/sagas`. */
  readonly basePath?: string;
  /** Largest request body accepted (the `abort` reason), in bytes. Default 16 384. */
  readonly maxBodyBytes?: number;
  /** Where unexpected failures (answered with 500) and operator actions go. Default: silent. */
  readonly logger?: SagaLogger;
}

/** {@link SagaApiOptions} after validation, defaults applied. */
export interface ResolvedSagaApiOptions {
  readonly basePath: string;
  readonly maxBodyBytes: number;
  readonly logger: SagaLogger;
}

const basePathPattern = /^(?:\/[A-Za-z0-9._~-]+)+$/;

/** Validates {@link SagaApiOptions}; throws a `FLT_SAGA_OPTIONS_INVALID` `SagaError` naming every bad option. */
export function parseSagaApiOptions(raw: unknown): ResolvedSagaApiOptions {
  const reader = new ConfigReader();
  const path = "sagaApi";
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["basePath", "maxBodyBytes", "logger"], path);
  const basePath = reader.string(obj, "basePath", path, "/sagas");
  if (!basePathPattern.test(basePath)) {
    reader.issue(
      `${path}.basePath`,
      `must be "/"-separated segments of letters, digits, ".", "_", "~" or "-", starting with "/" and not ending with "/", got ${JSON.stringify(basePath)}`,
    );
  }
  const maxBodyBytes = reader.number(obj, "maxBodyBytes", path, 16_384, { min: 1, integer: true });
  const logger = readLogger(reader, obj.logger, `${path}.logger`);
  if (reader.issues.length > 0) {
    throw new SagaError(
      SagaErrorCode.OptionsInvalid,
      `invalid saga API options: ${reader.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      { issues: reader.issues },
    );
  }
  return { basePath, maxBodyBytes, logger };
}
