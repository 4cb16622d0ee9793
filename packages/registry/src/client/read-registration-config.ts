import type { ConfigReader } from "@flotilla/resilience";
import type { RegistrationRequest } from "../registration.js";
import { parseRegistrationRequest } from "../registration-schema.js";

/**
 * Validates a registration given to a registration loop with the registry's own schema, so a bad
 * one fails when the loop is made, naming each field under `path` (`registrations[2].port`),
 * instead of being refused by the registry later. Returns the normalised request.
 */
export function readRegistrationConfig(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): RegistrationRequest {
  const parsed = parseRegistrationRequest(raw);
  if (parsed.ok) return parsed.request;
  for (const issue of parsed.issues) {
    reader.issue(
      path === "" ? issue.path : issue.path === "" ? path : `${path}.${issue.path}`,
      issue.message,
    );
  }
  return raw as RegistrationRequest;
}
