import { ConfigReader } from "../../config/config-reader.js";
import type { Duration } from "../../duration.js";
import type { Backoff } from "./backoff.js";

/** Options of {@link exponentialBackoff} and {@link fullJitterBackoff}. */
export interface ExponentialBackoffOptions {
  /** The wait before the first retry (AWS's `base`). Default `"100ms"`. */
  readonly initialDelay?: Duration;
  /** Each wait is this many times the one before. Default 2; at least 1. */
  readonly multiplier?: number;
  /** No wait is longer than this (AWS's `cap`). Default `"10s"`; must be at least `initialDelay`. */
  readonly maxDelay?: Duration;
}

/** {@link ExponentialBackoffOptions} in milliseconds. */
export interface ResolvedExponentialBackoffOptions {
  readonly initialDelay: number;
  readonly multiplier: number;
  readonly maxDelay: number;
}

/**
 * Reads {@link ExponentialBackoffOptions} from plain data, recording problems at `path`.
 * `extraKeys` are keys the caller reads itself (the `type` of a backoff in a retry configuration).
 */
export function parseExponentialBackoffOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  extraKeys: readonly string[] = [],
): ResolvedExponentialBackoffOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["initialDelay", "multiplier", "maxDelay", ...extraKeys], path);
  const initialDelay = reader.duration(obj, "initialDelay", path, 100);
  const multiplier = reader.number(obj, "multiplier", path, 2, { min: 1, max: 1000 });
  const maxDelay = reader.duration(obj, "maxDelay", path, Math.max(10_000, initialDelay), {
    min: initialDelay,
  });
  return { initialDelay, multiplier, maxDelay };
}

/**
 * `min(maxDelay, initialDelay × multiplier^(attempt − 1))`: the un-jittered exponential curve that
 * {@link exponentialBackoff} waits and {@link fullJitterBackoff} draws below.
 */
export function exponentialDelay(options: ResolvedExponentialBackoffOptions, attempt: number): number {
  const { initialDelay, maxDelay } = options;
  // A large attempt overflows the power to Infinity, which Math.min caps, but 0 × Infinity would be NaN.
  if (initialDelay === 0) return 0;
  const delay = initialDelay * options.multiplier ** (attempt - 1);
  return Math.min(delay, maxDelay);
}

/** The backoff of resolved options; no validation. */
export function exponentialBackoffOf(options: ResolvedExponentialBackoffOptions): Backoff {
  return (attempt) => exponentialDelay(options, attempt);
}

/**
 * Waits `initialDelay × multiplier^(attempt − 1)`, capped at `maxDelay`: 100, 200, 400 ms … with
 * the defaults. Without jitter, clients that failed together retry together; prefer
 * {@link fullJitterBackoff} or {@link decorrelatedJitterBackoff} when many clients share a
 * dependency. Throws a `ConfigError` for bad options.
 */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): Backoff {
  const reader = new ConfigReader();
  const resolved = parseExponentialBackoffOptions(options, reader, "");
  reader.throwIfInvalid();
  return exponentialBackoffOf(resolved);
}
