import type { ConfigReader } from "@flotilla/resilience";
import type { RegistrationRequest } from "../registration.js";

/**
 * Checks on the client side what the registration loops rely on — `service`, `id`, `address` and
 * `port` present and well-typed, `ttlMs` within the registry's 1 s to 1 h — recording problems
 * under `path` (`registrations[2].port`). The registry validates the rest and answers 400 with
 * its own issues.
 */
export function parseRegistrationRequest(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): RegistrationRequest {
  const obj = reader.object(raw, path);
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  for (const key of ["service", "id", "address"]) {
    if (obj[key] === undefined) reader.issue(at(key), "required");
    else reader.string(obj, key, path, "");
  }
  if (obj.port === undefined) reader.issue(at("port"), "required");
  else reader.number(obj, "port", path, 0, { integer: true, min: 1, max: 65_535 });
  reader.optionalNumber(obj, "ttlMs", path, { min: 1_000, max: 3_600_000 });
  if (obj.checks !== undefined && !Array.isArray(obj.checks)) {
    reader.issue(at("checks"), "expected an array of checks");
  }
  return obj as unknown as RegistrationRequest;
}
