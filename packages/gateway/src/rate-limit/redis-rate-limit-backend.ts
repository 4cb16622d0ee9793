import { durationSchema } from "@flotilla/registry";
import { z } from "zod";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { parseOptions } from "./parse-options.js";
import type { RateLimitBackend, RateLimitDecision } from "./rate-limit-backend.js";
import type { RateLimitRule } from "./rate-limit-rule.js";
import { type RateLimitScript, rateLimitScripts } from "./rate-limit-scripts.js";
import { tokenEpsilon } from "./token-bucket.js";

/**
 * The Redis backend in configuration (zod 4): `prefix` of every key (default `"flotilla:rl:"`)
 * and `timeout`, the longest one decision may take (a duration, default 50 ms).
 */
export const redisRateLimitBackendConfigSchema = z
  .object({
    prefix: z.string().default("flotilla:rl:"),
    timeout: durationSchema
      .refine((ms) => ms > 0, { error: "expected a timeout longer than 0 ms" })
      .default(50),
  })
  .strict();

/** Script argument: what `EVALSHA`/`EVAL` accept after the key. */
type ScriptArg = string | number;

/**
 * The two commands the backend sends. An ioredis `Redis` (or `Cluster`) fits as is; its owner
 * connects, configures (`enableOfflineQueue: false` makes an outage fail fast) and quits it.
 */
export interface RateLimitRedisClient {
  evalsha(sha: string, numKeys: number, ...args: ScriptArg[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: ScriptArg[]): Promise<unknown>;
}

/** Options of {@link redisRateLimitBackend}: the configuration plus the client. */
export type RedisRateLimitBackendOptions = z.input<typeof redisRateLimitBackendConfigSchema> & {
  /** The connection to use; the caller owns it and quits it after closing the backend. */
  readonly redis: RateLimitRedisClient;
};

/**
 * A {@link RateLimitBackend} in Redis, shared by every gateway instance that uses the same Redis
 * and prefix. Each `take` is one atomic Lua script (GCRA or token bucket), run by `EVALSHA` and
 * re-sent with `EVAL` when Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`). The
 * scripts read Redis's `TIME`, so instances need no synchronised clocks, and set `PX` on every
 * key so that a key vanishes once its bucket is full again.
 *
 * A command that fails or does not answer within `timeout` rejects with a `GatewayError`
 * `FLT_GATEWAY_UNAVAILABLE`; the rate limit layer then fails open or closed as configured.
 */
export class RedisRateLimitBackend implements RateLimitBackend {
  /** The prefix of every key. */
  readonly prefix: string;
  /** The longest one decision may take, in milliseconds. */
  readonly timeoutMs: number;
  readonly #redis: RateLimitRedisClient;
  #closed = false;

  /** Validates `options`; throws a `GatewayError` `FLT_GATEWAY_CONFIG_INVALID` for a bad one. */
  constructor(options: RedisRateLimitBackendOptions) {
    const { redis, ...config } = options;
    const parsed = parseOptions(redisRateLimitBackendConfigSchema, config, "redis rate limit backend");
    if (typeof redis?.evalsha !== "function" || typeof redis.eval !== "function") {
      throw new GatewayError(
        GatewayErrorCode.ConfigInvalid,
        "invalid redis rate limit backend: redis: expected an ioredis client",
      );
    }
    this.prefix = parsed.prefix;
    this.timeoutMs = parsed.timeout;
    this.#redis = redis;
  }

  /** Runs the rule's script on `prefix + key`. Always a promise. */
  take(key: string, rule: RateLimitRule, permits = 1): Promise<RateLimitDecision> {
    if (this.#closed) {
      return Promise.reject(
        new GatewayError(GatewayErrorCode.Unavailable, "the redis rate limit backend is closed"),
      );
    }
    const redisKey = this.prefix + key;
    const call =
      rule.algorithm === "gcra"
        ? this.#run(
            rateLimitScripts.gcra,
            redisKey,
            rule.gcra.emissionIntervalMs,
            rule.gcra.burstToleranceMs,
            rule.gcra.limit,
            permits,
          )
        : this.#run(
            rateLimitScripts.tokenBucket,
            redisKey,
            rule.burst,
            rule.refillPerMs,
            permits,
            tokenEpsilon,
          );
    const timeoutMs = this.timeoutMs;
    return new Promise<RateLimitDecision>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new GatewayError(
            GatewayErrorCode.Unavailable,
            `the rate limit backend (redis) did not answer within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      call.then(
        (reply) => {
          clearTimeout(timer);
          try {
            resolve(decisionFrom(reply, rule.burst));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(
            new GatewayError(
              GatewayErrorCode.Unavailable,
              `the rate limit backend (redis) failed: ${(error as Error)?.message ?? String(error)}`,
              { cause: error },
            ),
          );
        },
      );
    });
  }

  /** Stops taking; the Redis connection stays open for its owner to quit. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #run(script: RateLimitScript, key: string, a: ScriptArg, b: ScriptArg, c: ScriptArg, d: ScriptArg) {
    const redis = this.#redis;
    return redis.evalsha(script.sha, 1, key, a, b, c, d).catch((error: unknown) => {
      // The script cache is empty after a restart, a failover or SCRIPT FLUSH; EVAL reloads it.
      if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
        return redis.eval(script.lua, 1, key, a, b, c, d);
      }
      throw error;
    });
  }
}

function decisionFrom(reply: unknown, limit: number): RateLimitDecision {
  if (!Array.isArray(reply) || reply.length !== 4) {
    throw new GatewayError(GatewayErrorCode.Unavailable, "the rate limit backend (redis) answered garbage");
  }
  const retryAfterMs = Number(reply[2]);
  return {
    allowed: reply[0] === 1,
    limit,
    remaining: Number(reply[1]),
    resetAfterMs: Number(reply[3]),
    retryAfterMs: retryAfterMs < 0 ? Number.POSITIVE_INFINITY : retryAfterMs,
  };
}

/** Creates a {@link RedisRateLimitBackend}. */
export function redisRateLimitBackend(options: RedisRateLimitBackendOptions): RedisRateLimitBackend {
  return new RedisRateLimitBackend(options);
}
