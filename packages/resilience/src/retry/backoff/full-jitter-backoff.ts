import { ConfigReader } from "../../config/config-reader.js";
import type { Backoff, RandomSource } from "./backoff.js";
import {
  type ExponentialBackoffOptions,
  exponentialDelay,
  parseExponentialBackoffOptions,
  type ResolvedExponentialBackoffOptions,
} from "./exponential-backoff.js";

/** Options of {@link fullJitterBackoff}. */
export interface FullJitterBackoffOptions extends ExponentialBackoffOptions {
  /** Uniform numbers in `[0, 1)`. Default `Math.random`; pass a seeded one for reproducible tests. */
  readonly random?: RandomSource;
}

/** {@link FullJitterBackoffOptions} in milliseconds. */
export interface ResolvedFullJitterBackoffOptions extends ResolvedExponentialBackoffOptions {
  readonly random: RandomSource;
}

/**
 * Reads {@link FullJitterBackoffOptions} from plain data, recording problems at `path`.
 * `extraKeys` are keys the caller reads itself (the `type` of a backoff in a retry configuration).
 */
export function parseFullJitterBackoffOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  extraKeys: readonly string[] = [],
): ResolvedFullJitterBackoffOptions {
  const obj = reader.object(raw, path);
  const exponential = parseExponentialBackoffOptions(obj, reader, path, ["random", ...extraKeys]);
  return { ...exponential, random: reader.fn<RandomSource>(obj, "random", path) ?? Math.random };
}

/** The backoff of resolved options; no validation. */
export function fullJitterBackoffOf(options: ResolvedFullJitterBackoffOptions): Backoff {
  const random = options.random;
  return (attempt) => random() * exponentialDelay(options, attempt);
}

/**
 * "Full jitter" from the AWS Architecture Blog's *Exponential Backoff And Jitter*:
 * `random_between(0, min(cap, base × multiplier^(attempt − 1)))`. Spreads the retries of clients
 * that failed together over the whole interval; the AWS comparison found it does the least total
 * work of the jittered variants. Throws a `ConfigError` for bad options.
 */
export function fullJitterBackoff(options: FullJitterBackoffOptions = {}): Backoff {
  const reader = new ConfigReader();
  const resolved = parseFullJitterBackoffOptions(options, reader, "");
  reader.throwIfInvalid();
  return fullJitterBackoffOf(resolved);
}
