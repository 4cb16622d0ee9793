import { type Clock, systemClock } from "../clock.js";
import { type ConfigReader, join } from "../config/config-reader.js";
import type { Duration } from "../duration.js";
import type { GcraLimiter } from "./gcra-limiter.js";
import type { MemoryRateLimitStore } from "./memory-rate-limit-store.js";
import type { RateLimitStore } from "./rate-limit-store.js";

/** Options of a {@link GcraLimiter}. */
export interface GcraLimiterOptions {
  /** Appears in errors and events (default `"default"`). */
  readonly name?: string;
  /** Sustained permits per `period`; required, greater than 0 (fractions allowed: 0.5 per second). */
  readonly rate: number;
  /** The period `rate` is counted over (default `"1s"`). */
  readonly period?: Duration;
  /**
   * Extra permits an idle key may take at once, as redis-cell's `max_burst`: an idle key gets
   * `burst + 1` at once. A whole number, at least 0. Default `ceil(rate) - 1`, so an idle key may
   * spend one period's quota at once, like a token bucket holding `rate` tokens.
   */
  readonly burst?: number;
  /** Where the keys' state lives (default a new {@link MemoryRateLimitStore} per limiter). */
  readonly store?: RateLimitStore;
  /** Source of time (default {@link systemClock}); its `now()` is what the store receives. */
  readonly clock?: Clock;
}

/** {@link GcraLimiterOptions} with defaults applied and durations in milliseconds. */
export interface ResolvedGcraLimiterOptions {
  readonly name: string;
  readonly rate: number;
  readonly periodMs: number;
  readonly burst: number;
  /** `undefined` when none was given; the limiter then creates its own memory store. */
  readonly store: RateLimitStore | undefined;
  readonly clock: Clock;
}

const keys = ["name", "rate", "period", "burst", "store", "clock"];

/**
 * Reads GCRA limiter options from a plain object, recording each problem on `reader` with its
 * path under `path` (for example `routes.search.rateLimit.burst`).
 */
export function parseGcraLimiterOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedGcraLimiterOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, keys, path);
  if (obj.rate === undefined) reader.issue(join(path, "rate"), "required: permits per period");
  const rate = reader.number(obj, "rate", path, 1, { above: 0 });
  if (!Number.isFinite(rate)) reader.issue(join(path, "rate"), `must be finite, got ${rate}`);
  const store = obj.store;
  if (store !== undefined && !isStore(store)) {
    reader.issue(join(path, "store"), "expected a RateLimitStore with acquire(key, rule, permits, now)");
  }
  return {
    name: reader.string(obj, "name", path, "default"),
    rate,
    periodMs: reader.duration(obj, "period", path, 1000, { above: 0 }),
    burst: reader.number(obj, "burst", path, Math.max(0, Math.ceil(rate) - 1), { integer: true, min: 0 }),
    store: isStore(store) ? store : undefined,
    clock: reader.clock(obj, "clock", path),
  };
}

function isStore(value: unknown): value is RateLimitStore {
  return (
    typeof value === "object" && value !== null && typeof (value as RateLimitStore).acquire === "function"
  );
}
