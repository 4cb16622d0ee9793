import { Redis } from "ioredis";
import type { GatewayLogger } from "../chain/gateway-logger.js";

/**
 * The gateway's Redis connection: commands fail at once while it is down (no offline queue, one
 * try), so rate limits fail open or closed as configured and the cache misses instead of requests
 * waiting; it reconnects by itself with backoff, and says so in the log once per outage.
 */
export function redisClient(url: string, logger: GatewayLogger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5_000),
  });
  let down = false;
  redis.on("error", (error: Error) => {
    if (down) return;
    down = true;
    logger.warn(
      { err: error, redis: redactedUrl(url) },
      "Redis unreachable; rate limits and the shared cache degrade until it is back",
    );
  });
  redis.on("ready", () => {
    if (!down) return;
    down = false;
    logger.info({ redis: redactedUrl(url) }, "Redis reachable again");
  });
  return redis;
}

function redactedUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
