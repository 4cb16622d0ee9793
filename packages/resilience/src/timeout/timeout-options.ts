import type { Clock } from "../clock.js";
import { type ConfigReader, join } from "../config/config-reader.js";
import type { Duration } from "../duration.js";

/**
 * What a {@link Timeout} does when the limit elapses:
 * - `cooperative`: aborts `ctx.signal` and waits for the operation to settle. A rejection
 *   becomes a `TimeoutError` (the operation's error as its `cause`); a value that arrives anyway
 *   is returned. The operation never outlives the call.
 * - `aggressive`: aborts `ctx.signal` and rejects at once with a `TimeoutError`; the operation's
 *   late outcome is ignored.
 */
export type TimeoutStrategy = "cooperative" | "aggressive";

/** Options of a timeout policy. */
export interface TimeoutOptions {
  /** The limit for one call, such as `"2s"` or `250` (ms). Required, above 0. */
  readonly duration: Duration;
  /** What happens when the limit elapses. Default `"cooperative"`. */
  readonly strategy?: TimeoutStrategy;
  /** Appears in errors and events. Default `"default"`. */
  readonly name?: string;
  /** Time source and timers. Default `systemClock`. */
  readonly clock?: Clock;
}

/** {@link TimeoutOptions} after validation, the duration in milliseconds. */
export interface ResolvedTimeoutOptions {
  readonly name: string;
  readonly durationMs: number;
  readonly strategy: TimeoutStrategy;
  readonly clock: Clock;
}

const timeoutKeys = ["name", "clock", "duration", "strategy"] as const;
const strategies: readonly TimeoutStrategy[] = ["cooperative", "aggressive"];

/**
 * Reads {@link TimeoutOptions} from plain data, recording every problem at its path under `path`
 * (`timeout.instances.payments.duration: must be longer than 0 ms, got 0 ms`).
 */
export function parseTimeoutOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedTimeoutOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, timeoutKeys, path);
  const name = reader.string(obj, "name", path, "default");
  const clock = reader.clock(obj, "clock", path);
  if (obj.duration === undefined) reader.issue(join(path, "duration"), 'required: the limit, such as "2s"');
  const durationMs = reader.duration(obj, "duration", path, 1, { above: 0 });
  const strategy = reader.oneOf(obj, "strategy", path, strategies, "cooperative");
  return { name, durationMs, strategy, clock };
}
