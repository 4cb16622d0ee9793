import { ConfigReader } from "../../config/config-reader.js";
import type { Duration } from "../../duration.js";
import type { Backoff } from "./backoff.js";

/** Options of {@link linearBackoff}. */
export interface LinearBackoffOptions {
  /** The wait before the first retry. Default `"100ms"`. */
  readonly initialDelay?: Duration;
  /** Added for every further retry. Default `"100ms"`. */
  readonly step?: Duration;
  /** No wait is longer than this. Default `"10s"`; must be at least `initialDelay`. */
  readonly maxDelay?: Duration;
}

/** {@link LinearBackoffOptions} in milliseconds. */
export interface ResolvedLinearBackoffOptions {
  readonly initialDelay: number;
  readonly step: number;
  readonly maxDelay: number;
}

/**
 * Reads {@link LinearBackoffOptions} from plain data, recording problems at `path`.
 * `extraKeys` are keys the caller reads itself (the `type` of a backoff in a retry configuration).
 */
export function parseLinearBackoffOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  extraKeys: readonly string[] = [],
): ResolvedLinearBackoffOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["initialDelay", "step", "maxDelay", ...extraKeys], path);
  const initialDelay = reader.duration(obj, "initialDelay", path, 100);
  const step = reader.duration(obj, "step", path, 100);
  const maxDelay = reader.duration(obj, "maxDelay", path, Math.max(10_000, initialDelay), {
    min: initialDelay,
  });
  return { initialDelay, step, maxDelay };
}

/** The backoff of resolved options; no validation. */
export function linearBackoffOf({ initialDelay, step, maxDelay }: ResolvedLinearBackoffOptions): Backoff {
  return (attempt) => {
    const delay = initialDelay + step * (attempt - 1);
    return delay < maxDelay ? delay : maxDelay;
  };
}

/**
 * Waits `initialDelay + step × (attempt − 1)`, capped at `maxDelay`: 100, 200, 300 ms … with the
 * defaults. Throws a `ConfigError` for bad options.
 */
export function linearBackoff(options: LinearBackoffOptions = {}): Backoff {
  const reader = new ConfigReader();
  const resolved = parseLinearBackoffOptions(options, reader, "");
  reader.throwIfInvalid();
  return linearBackoffOf(resolved);
}
