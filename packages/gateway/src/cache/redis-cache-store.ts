import { type Duration, parseDuration } from "@flotilla/resilience";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import { type CacheClock, wallClock } from "./cache-clock.js";
import type { CacheEntry } from "./cache-entry.js";
import { decodeCacheEntry, encodeCacheEntry } from "./cache-entry-codec.js";
import type { CacheStore } from "./cache-store.js";

/**
 * The part of an ioredis client (`Redis` or `Cluster` from `ioredis` 5) the store uses, so any
 * client with these methods fits.
 */
export interface RedisCacheClient {
  /** ioredis connection status (`"ready"`, `"reconnecting"`, `"end"` ...). */
  readonly status: string;
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer, millisecondsToken: "PX", milliseconds: number): Promise<unknown>;
  del(key: string): Promise<number>;
}

/** Options of {@link redisCacheStore}. */
export interface RedisCacheStoreOptions {
  /** The client; the caller owns it and quits it (`close()` leaves it open). */
  readonly redis: RedisCacheClient;
  /** Put before every key (default `"flotilla:cache:"`). */
  readonly prefix?: string;
  /** Longest wait for one command before it counts as a miss (default `"50ms"`). */
  readonly timeout?: Duration;
  /** Where failures are reported, at most one warning per `warnInterval`. */
  readonly logger?: GatewayLogger;
  /** Least time between two failure warnings (default `"10s"`). */
  readonly warnInterval?: Duration;
  /**
   * After a failure or timeout, how long to leave Redis alone and count every lookup as a miss
   * (default `"1s"`), so that a hung Redis costs one timeout per pause instead of one per request.
   */
  readonly pauseAfterFailure?: Duration;
  /** Time source for the pause and the warning rate limit (default {@link wallClock}). */
  readonly clock?: CacheClock;
}

// A client in these states answers nothing soon: skip it instead of waiting for the timeout on
// every request while Redis is down. "wait" (lazyConnect, not yet connected) connects on use.
const usableStatus = new Set(["ready", "connect", "wait"]);

/**
 * A {@link CacheStore} in Redis, shared by every gateway using the same prefix. An entry is one
 * binary value (status, headers, body, its times) expiring with `PX` when its stale-if-error
 * window ends. Redis errors, timeouts and a disconnected client never fail a request: reads
 * count as misses, writes are dropped, a rate-limited warning is logged, and Redis is left
 * alone for `pauseAfterFailure`.
 *
 * ```ts
 * const store = redisCacheStore({ redis: new Redis(url), prefix: "gw:cache:", timeout: "50ms" });
 * ```
 */
export function redisCacheStore(options: RedisCacheStoreOptions): RedisCacheStore {
  return new RedisCacheStore(options);
}

/** See {@link redisCacheStore}. */
export class RedisCacheStore implements CacheStore {
  readonly #redis: RedisCacheClient;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #logger: GatewayLogger;
  readonly #warnIntervalMs: number;
  readonly #pauseMs: number;
  readonly #clock: CacheClock;
  #pausedUntil = Number.NEGATIVE_INFINITY;
  #lastWarnAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(options: RedisCacheStoreOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? "flotilla:cache:";
    this.#timeoutMs = duration(options.timeout ?? "50ms", "timeout");
    this.#warnIntervalMs = duration(options.warnInterval ?? "10s", "warnInterval");
    this.#pauseMs = duration(options.pauseAfterFailure ?? "1s", "pauseAfterFailure");
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? wallClock;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const data = await this.#run("get", () => this.#redis.getBuffer(this.#prefix + key));
    if (data === undefined || data === null) return undefined;
    const entry = decodeCacheEntry(data);
    if (entry === undefined) this.#warn("get", new Error("undecodable cache entry"));
    return entry;
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return;
    const data = encodeCacheEntry(entry);
    await this.#run("set", () => this.#redis.set(this.#prefix + key, data, "PX", Math.ceil(ttlMs)));
  }

  async delete(key: string): Promise<void> {
    await this.#run("delete", () => this.#redis.del(this.#prefix + key));
  }

  /** Leaves the client open: the caller owns it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #run<T>(operation: string, command: () => Promise<T>): Promise<T | undefined> {
    if (this.#clock.now() < this.#pausedUntil) return Promise.resolve(undefined);
    const status = this.#redis.status;
    if (!usableStatus.has(status)) {
      this.#warn(operation, new Error(`redis client is ${status}`));
      return Promise.resolve(undefined);
    }
    return new Promise<T | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.#fail(operation, new Error(`redis did not answer within ${this.#timeoutMs}ms`));
        resolve(undefined);
      }, this.#timeoutMs);
      let pending: Promise<T>;
      try {
        pending = command();
      } catch (error) {
        clearTimeout(timer);
        this.#fail(operation, error);
        resolve(undefined);
        return;
      }
      pending.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          this.#fail(operation, error);
          resolve(undefined);
        },
      );
    });
  }

  #fail(operation: string, error: unknown): void {
    this.#pausedUntil = this.#clock.now() + this.#pauseMs;
    this.#warn(operation, error);
  }

  #warn(operation: string, error: unknown): void {
    const now = this.#clock.now();
    if (now - this.#lastWarnAt < this.#warnIntervalMs) {
      this.#suppressed++;
      return;
    }
    this.#lastWarnAt = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#logger.warn(
      { operation, err: error instanceof Error ? error.message : String(error), suppressed },
      "response cache: redis unavailable, serving without the cache",
    );
  }
}

function duration(value: Duration, name: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new GatewayError(
      GatewayErrorCode.ConfigInvalid,
      `redisCacheStore: ${name}: ${(error as Error).message}`,
    );
  }
}
