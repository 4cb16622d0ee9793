import type { Clock } from "../clock.js";
import type { ConfigReader } from "../config/config-reader.js";
import type { Duration } from "../duration.js";

/**
 * The wait before hedged attempt `attempt` (2, 3, …) starts, counted from the start of the
 * attempt before it, in milliseconds. `0` starts it at once; `Infinity` (or anything that is not
 * a number ≥ 0) never starts it on time, only when an attempt fails, which turns hedging into a
 * retry without back-off (Polly's `Delay = -1`).
 */
export type HedgingDelay = (attempt: number) => number;

/** Options of a hedging policy. */
export interface HedgingOptions {
  /** Appears in events and errors. Default `"default"`. */
  readonly name?: string;
  /** Time source for the hedging timers. Default `systemClock`. */
  readonly clock?: Clock;
  /**
   * How long an attempt may run before the next one starts alongside it: a {@link Duration}, or a
   * function of the attempt about to start ({@link HedgingDelay}). `0` starts every attempt at
   * once. Default `"2s"`, like Polly; set it near the dependency's p95 latency.
   */
  readonly delay?: Duration | HedgingDelay;
  /** Attempts in all, the first included: 2 means one hedged attempt. From 1 to 10; default 2. */
  readonly maxAttempts?: number;
  /**
   * Whether an attempt's error is worth another attempt. Default: every error. When it says no
   * (a 4xx, a validation error), the call fails at once with that error.
   */
  readonly shouldHedgeOn?: (error: unknown) => boolean;
}

/** {@link HedgingOptions} after validation: a fixed delay in milliseconds or a delay function. */
export interface ResolvedHedgingOptions {
  readonly name: string;
  readonly clock: Clock;
  readonly delay: number | HedgingDelay;
  readonly maxAttempts: number;
  readonly shouldHedgeOn: ((error: unknown) => boolean) | undefined;
}

/**
 * Reads {@link HedgingOptions} from plain data, recording every problem at its path under
 * `path` (`instances.search.delay`). Function-valued options pass through.
 */
export function parseHedgingOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedHedgingOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["name", "clock", "delay", "maxAttempts", "shouldHedgeOn"], path);
  const name = reader.string(obj, "name", path, "default");
  const delay =
    typeof obj.delay === "function" ? (obj.delay as HedgingDelay) : reader.duration(obj, "delay", path, 2000);
  const maxAttempts = reader.number(obj, "maxAttempts", path, 2, { integer: true, min: 1, max: 10 });
  const shouldHedgeOn = reader.fn<(error: unknown) => boolean>(obj, "shouldHedgeOn", path);
  return { name, clock: reader.clock(obj, "clock", path), delay, maxAttempts, shouldHedgeOn };
}
