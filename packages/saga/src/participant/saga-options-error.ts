import type { ConfigReader } from "@flotilla/resilience";
import { SagaError, SagaErrorCode } from "../saga-error.js";

/**
 * Throws a `FLT_SAGA_OPTIONS_INVALID` {@link SagaError} listing every issue `reader` recorded
 * (each as `path: message`, and in `issues`), or does nothing when there is none.
 *
 * @example
 * ```ts
 * const reader = new ConfigReader();
 * const schema = reader.string(raw, "schema", "participantTables", "flotilla");
 * throwIfOptionsInvalid(reader, "participantTables");
 * ```
 */
export function throwIfOptionsInvalid(reader: ConfigReader, what: string): void {
  if (reader.issues.length === 0) return;
  const issues = reader.issues.map(({ path, message }) => ({ path, message }));
  throw new SagaError(
    SagaErrorCode.OptionsInvalid,
    `invalid ${what} options: ${issues.map(({ path, message }) => `${path}: ${message}`).join("; ")}`,
    { issues },
  );
}
