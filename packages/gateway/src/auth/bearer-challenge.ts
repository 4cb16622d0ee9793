/** `error` codes of a Bearer challenge (https://www.rfc-editor.org/rfc/rfc6750#section-3.1). */
export type BearerError = "invalid_request" | "invalid_token" | "insufficient_scope";

function quoted(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * A `WWW-Authenticate: Bearer` challenge (https://www.rfc-editor.org/rfc/rfc6750#section-3).
 * Without `error` it carries the realm only, as for a request that sent no credentials.
 */
export function bearerChallenge(
  realm: string,
  error?: BearerError,
  description?: string,
  scope?: readonly string[],
): string {
  let challenge = `Bearer realm=${quoted(realm)}`;
  if (error !== undefined) challenge += `, error=${quoted(error)}`;
  if (description !== undefined) challenge += `, error_description=${quoted(description)}`;
  if (scope !== undefined && scope.length > 0) challenge += `, scope=${quoted(scope.join(" "))}`;
  return challenge;
}
