import { ConfigReader } from "../../config/config-reader.js";
import type { Duration } from "../../duration.js";
import type { Backoff, RandomSource } from "./backoff.js";

/** Options of {@link decorrelatedJitterBackoff}. */
export interface DecorrelatedJitterBackoffOptions {
  /** The shortest wait and the first "previous sleep" (AWS's `base`). Default `"100ms"`; above 0. */
  readonly initialDelay?: Duration;
  /** No wait is longer than this (AWS's `cap`). Default `"10s"`; must be at least `initialDelay`. */
  readonly maxDelay?: Duration;
  /** Uniform numbers in `[0, 1)`. Default `Math.random`; pass a seeded one for reproducible tests. */
  readonly random?: RandomSource;
}

/** {@link DecorrelatedJitterBackoffOptions} in milliseconds. */
export interface ResolvedDecorrelatedJitterBackoffOptions {
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly random: RandomSource;
}

/**
 * Reads {@link DecorrelatedJitterBackoffOptions} from plain data, recording problems at `path`.
 * `extraKeys` are keys the caller reads itself (the `type` of a backoff in a retry configuration).
 */
export function parseDecorrelatedJitterBackoffOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  extraKeys: readonly string[] = [],
): ResolvedDecorrelatedJitterBackoffOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["initialDelay", "maxDelay", "random", ...extraKeys], path);
  const initialDelay = reader.duration(obj, "initialDelay", path, 100, { above: 0 });
  const maxDelay = reader.duration(obj, "maxDelay", path, Math.max(10_000, initialDelay), {
    min: initialDelay,
  });
  return { initialDelay, maxDelay, random: reader.fn<RandomSource>(obj, "random", path) ?? Math.random };
}

/** The backoff of resolved options; no validation. */
export function decorrelatedJitterBackoffOf({
  initialDelay: base,
  maxDelay: cap,
  random,
}: ResolvedDecorrelatedJitterBackoffOptions): Backoff {
  return (_attempt, _reason, previousDelay) => {
    // A previous wait shorter than base (none yet, or a short Retry-After) would turn the range upside down.
    const high = previousDelay * 3 > base ? previousDelay * 3 : base;
    const delay = base + random() * (high - base);
    return delay < cap ? delay : cap;
  };
}

/**
 * "Decorrelated jitter" from the AWS Architecture Blog's *Exponential Backoff And Jitter*:
 * `sleep = min(cap, random_between(base, previousSleep × 3))`, starting from `previousSleep = base`.
 * Each wait depends on the one actually waited before (passed in by the retry), so it grows
 * roughly exponentially while staying spread out. Throws a `ConfigError` for bad options.
 */
export function decorrelatedJitterBackoff(options: DecorrelatedJitterBackoffOptions = {}): Backoff {
  const reader = new ConfigReader();
  const resolved = parseDecorrelatedJitterBackoffOptions(options, reader, "");
  reader.throwIfInvalid();
  return decorrelatedJitterBackoffOf(resolved);
}
