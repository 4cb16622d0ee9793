import { hash } from "node:crypto";

/** The prefix of a stored API key hash. */
export const apiKeyHashPrefix = "sha256:";

/**
 * The form in which an API key is configured: `sha256:` and the key's SHA-256 in lower-case hex.
 * API keys are long random strings, so an unsalted fast hash is enough: what it protects against
 * is a leaked configuration, not guessing (`flotilla-gateway hash-key <key>` prints it).
 */
export function hashApiKey(key: string): string {
  return `${apiKeyHashPrefix}${hash("sha256", key, "hex")}`;
}
