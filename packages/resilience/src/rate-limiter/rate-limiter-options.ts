import { type Clock, systemClock } from "../clock.js";
import type { ConfigReader } from "../config/config-reader.js";
import type { Duration } from "../duration.js";
import type { RateLimiter } from "./rate-limiter.js";

/** Options of a {@link RateLimiter} (Resilience4j `RateLimiterConfig`). */
export interface RateLimiterOptions {
  /** Appears in errors and events (default `"default"`). */
  readonly name?: string;
  /** Permits in each cycle (default 50, as Resilience4j). A whole number, at least 1. */
  readonly limitForPeriod?: number;
  /**
   * Length of a cycle (default `"1s"`). Resilience4j's default of 500 ns has no meaning for
   * JavaScript timers, so the default here is one second: 50 permits per second.
   */
  readonly limitRefreshPeriod?: Duration;
  /**
   * How long a caller may wait for a permit of a future cycle (default `"5s"`, as Resilience4j).
   * `0` never waits: a caller without a permit in the current cycle is refused at once.
   */
  readonly timeoutDuration?: Duration;
  /** Source of time and timers (default {@link systemClock}). */
  readonly clock?: Clock;
}

/** {@link RateLimiterOptions} with defaults applied and durations in milliseconds. */
export interface ResolvedRateLimiterOptions {
  readonly name: string;
  readonly limitForPeriod: number;
  readonly limitRefreshPeriodMs: number;
  readonly timeoutDurationMs: number;
  readonly clock: Clock;
}

const keys = ["name", "limitForPeriod", "limitRefreshPeriod", "timeoutDuration", "clock"];

/**
 * Reads rate limiter options from a plain object, recording each problem on `reader` with its
 * path under `path` (for example `instances.search.limitForPeriod`).
 */
export function parseRateLimiterOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedRateLimiterOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, keys, path);
  return {
    name: reader.string(obj, "name", path, "default"),
    limitForPeriod: reader.number(obj, "limitForPeriod", path, 50, { integer: true, min: 1 }),
    limitRefreshPeriodMs: reader.duration(obj, "limitRefreshPeriod", path, 1000, { above: 0 }),
    timeoutDurationMs: reader.duration(obj, "timeoutDuration", path, 5000),
    clock: reader.clock(obj, "clock", path),
  };
}
