import { hash } from "node:crypto";
import type { Identity } from "../chain/identity.js";
import { type ApiKeyProviderInput, apiKeyProviderSchema } from "./api-key-options.js";
import { apiKeyHashPrefix } from "./hash-api-key.js";
import { parseAuthOptions } from "./parse-auth-options.js";

/** Longer presented keys are refused without hashing. */
const maxKeyLength = 1024;

/**
 * Checks API keys against configured SHA-256 hashes ({@link ApiKeyAuthenticator}).
 *
 * @example
 * ```ts
 * const keys = apiKeyAuthenticator({
 *   keys: [{ consumer: "billing-batch", hash: hashApiKey("k_live_..."), roles: ["billing"] }],
 * });
 * keys.lookup(req.headers["x-api-key"]); // Identity | undefined
 * ```
 */
export function apiKeyAuthenticator(options: ApiKeyProviderInput): ApiKeyAuthenticator {
  return new ApiKeyAuthenticator(options);
}

/**
 * Checks API keys: the presented key is hashed with SHA-256 and looked up among the configured
 * hashes, so the configuration never holds a key and a look-up costs one hash and one map
 * access. Each key's {@link Identity} is built once and shared by its requests.
 */
export class ApiKeyAuthenticator {
  /** The request header holding the key, lower-case. */
  readonly header: string;
  readonly #byDigest: ReadonlyMap<string, Identity>;

  constructor(options: ApiKeyProviderInput) {
    const resolved = parseAuthOptions(apiKeyProviderSchema, options, "apiKeys");
    this.header = resolved.header;
    const byDigest = new Map<string, Identity>();
    for (const entry of resolved.keys) {
      byDigest.set(
        entry.hash.slice(apiKeyHashPrefix.length),
        Object.freeze({
          subject: entry.consumer,
          consumer: entry.consumer,
          roles: Object.freeze([...entry.roles]),
          scopes: Object.freeze([...entry.scopes]),
          method: "api-key",
          claims: Object.freeze({}),
        }),
      );
    }
    this.#byDigest = byDigest;
  }

  /** Number of configured keys. */
  get size(): number {
    return this.#byDigest.size;
  }

  /** The identity of a presented key, or `undefined` when it matches no configured key. */
  lookup(key: string): Identity | undefined {
    if (key.length === 0 || key.length > maxKeyLength) return undefined;
    return this.#byDigest.get(hash("sha256", key, "hex"));
  }
}
