import { ConfigReader } from "../../config/config-reader.js";
import type { Duration } from "../../duration.js";
import type { Backoff } from "./backoff.js";

/** Options of {@link constantBackoff}. */
export interface ConstantBackoffOptions {
  /** The wait before every retry. Default `"500ms"` (Resilience4j's `waitDuration`). */
  readonly delay?: Duration;
}

/** {@link ConstantBackoffOptions} in milliseconds. */
export interface ResolvedConstantBackoffOptions {
  readonly delay: number;
}

/**
 * Reads {@link ConstantBackoffOptions} from plain data, recording problems at `path`.
 * `extraKeys` are keys the caller reads itself (the `type` of a backoff in a retry configuration).
 */
export function parseConstantBackoffOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  extraKeys: readonly string[] = [],
): ResolvedConstantBackoffOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["delay", ...extraKeys], path);
  return { delay: reader.duration(obj, "delay", path, 500) };
}

/** The backoff of resolved options; no validation. */
export function constantBackoffOf({ delay }: ResolvedConstantBackoffOptions): Backoff {
  return () => delay;
}

/**
 * Waits the same `delay` before every retry. Accepts the options or the delay alone
 * (`constantBackoff("200ms")`). Throws a `ConfigError` for a bad delay.
 */
export function constantBackoff(options: ConstantBackoffOptions | Duration = {}): Backoff {
  const reader = new ConfigReader();
  const resolved = parseConstantBackoffOptions(
    typeof options === "object" ? options : { delay: options },
    reader,
    "",
  );
  reader.throwIfInvalid();
  return constantBackoffOf(resolved);
}
