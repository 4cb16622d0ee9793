import type { ApiKeyAuthenticator } from "../auth/api-key-authenticator.js";
import type { JwtAuthenticator } from "../auth/jwt-authenticator.js";
import type { CacheStore } from "../cache/cache-store.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import type { RateLimitBackend } from "../rate-limit/rate-limit-backend.js";

/**
 * What the layers of every route share: credential verifiers and the stores of rate limits and
 * cached responses. The stores live as long as the gateway, so counters and cached answers
 * survive a configuration reload; the verifiers are rebuilt with each configuration.
 */
export interface ChainResources {
  readonly logger: GatewayLogger;
  readonly jwt: ReadonlyMap<string, JwtAuthenticator>;
  readonly apiKeys: ApiKeyAuthenticator | undefined;
  readonly memoryRateLimit: RateLimitBackend;
  /** Present when the configuration names a Redis. */
  readonly redisRateLimit: RateLimitBackend | undefined;
  readonly memoryCache: CacheStore;
  readonly redisCache: CacheStore | undefined;
}
