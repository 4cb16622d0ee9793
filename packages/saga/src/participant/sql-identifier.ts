import type { ConfigReader } from "@flotilla/resilience";

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Reads the option `key` of `raw` as a plain lower-case SQL identifier (letters, digits, `_`, at
 * most 63 characters, not starting with a digit), recording an issue at `path.key` otherwise.
 * Returns `fallback` when the option is absent or invalid.
 */
export function readSqlIdentifier(
  reader: ConfigReader,
  raw: Record<string, unknown>,
  key: string,
  path: string,
  fallback: string,
): string {
  const value = reader.string(raw, key, path, fallback);
  if (identifier.test(value)) return value;
  reader.issue(
    path === "" ? key : `${path}.${key}`,
    `must be a lower-case SQL identifier (a letter or "_", then letters, digits, "_"; at most 63), got "${value}"`,
  );
  return fallback;
}
