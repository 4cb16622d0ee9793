import { type ConfigReader, join } from "../config/config-reader.js";
import { BreakerState } from "./breaker-state.js";
import type { CountWindowJSON, SlidingWindowJSON, TimeWindowJSON } from "./sliding-window.js";

/**
 * A circuit breaker's state as plain data, from `toJSON()`, for `CircuitBreaker.restore` or the
 * `restore` option. Time stamps are readings of the breaker's clock; restoring shifts them all by
 * (the restoring clock's now − `savedAt`), so the time spent serialised does not count and a
 * snapshot moves between processes whose monotonic clocks differ.
 */
export interface CircuitBreakerJSON {
  readonly version: 1;
  readonly name: string;
  readonly state: BreakerState;
  /** Clock reading when the snapshot was taken. */
  readonly savedAt: number;
  /** Consecutive openings since the breaker last closed (the `openAttempt` of the wait function). */
  readonly openAttempts: number;
  /** When the breaker last opened. */
  readonly openedAt: number;
  /** How long that opening waits before a call may probe. */
  readonly waitMs: number;
  /** When the breaker last went half-open. */
  readonly halfOpenedAt: number;
  /** Rejected calls since the window in use was cleared. */
  readonly notPermittedCalls: number;
  /** Which window the snapshot's metrics come from. */
  readonly windowInUse: "closed" | "halfOpen";
  /** The closed-state window (also used by `METRICS_ONLY`). */
  readonly window: SlidingWindowJSON;
  /** The half-open probe outcomes recorded so far. */
  readonly halfOpenWindow: CountWindowJSON;
  /** Whether `METRICS_ONLY` has already reported each rate as exceeded. */
  readonly metricsOnlyExceeded: { readonly failureRate: boolean; readonly slowCallRate: boolean };
}

const states = Object.values(BreakerState);

/**
 * Validates a {@link CircuitBreakerJSON}, recording each problem at its path under `path`.
 * Returns undefined when `raw` is undefined or invalid.
 */
export function parseCircuitBreakerJSON(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): CircuitBreakerJSON | undefined {
  if (raw === undefined) return undefined;
  const before = reader.issues.length;
  const obj = reader.object(raw, path);
  if (reader.issues.length > before) return undefined;
  if (obj.version !== 1) reader.issue(join(path, "version"), `expected 1, got ${String(obj.version)}`);
  const state = reader.oneOf(obj, "state", path, states, BreakerState.CLOSED);
  if (obj.state === undefined) reader.issue(join(path, "state"), "is required");
  const num = (key: string, min?: number) => {
    if (typeof obj[key] !== "number")
      reader.issue(join(path, key), `expected a number, got ${typeof obj[key]}`);
    return reader.number(obj, key, path, 0, min === undefined ? {} : { min });
  };
  const savedAt = num("savedAt");
  const openAttempts = num("openAttempts", 0);
  const openedAt = num("openedAt");
  const waitMs = num("waitMs", 0);
  const halfOpenedAt = num("halfOpenedAt");
  const notPermittedCalls = num("notPermittedCalls", 0);
  const windowInUse = reader.oneOf(obj, "windowInUse", path, ["closed", "halfOpen"], "closed");
  const window = parseWindow(obj.window, reader, join(path, "window"));
  const halfOpenWindow = parseWindow(obj.halfOpenWindow, reader, join(path, "halfOpenWindow"));
  if (halfOpenWindow !== undefined && halfOpenWindow.type !== "COUNT_BASED") {
    reader.issue(join(path, "halfOpenWindow.type"), 'expected "COUNT_BASED"');
  }
  const exceeded = reader.object(obj.metricsOnlyExceeded, join(path, "metricsOnlyExceeded"));
  const metricsOnlyExceeded = {
    failureRate: reader.boolean(exceeded, "failureRate", join(path, "metricsOnlyExceeded"), false),
    slowCallRate: reader.boolean(exceeded, "slowCallRate", join(path, "metricsOnlyExceeded"), false),
  };
  if (reader.issues.length > before || window === undefined || halfOpenWindow?.type !== "COUNT_BASED") {
    return undefined;
  }
  return {
    version: 1,
    name: typeof obj.name === "string" ? obj.name : "",
    state,
    savedAt,
    openAttempts,
    openedAt,
    waitMs,
    halfOpenedAt,
    notPermittedCalls,
    windowInUse,
    window,
    halfOpenWindow,
    metricsOnlyExceeded,
  };
}

function parseWindow(raw: unknown, reader: ConfigReader, path: string): SlidingWindowJSON | undefined {
  if (raw === undefined) {
    reader.issue(path, "is required");
    return undefined;
  }
  const before = reader.issues.length;
  const obj = reader.object(raw, path);
  const type = reader.oneOf(obj, "type", path, ["COUNT_BASED", "TIME_BASED"], "COUNT_BASED");
  const size = reader.number(obj, "size", path, 1, { integer: true, min: 1 });
  if (type === "COUNT_BASED") {
    const outcomes = obj.outcomes;
    if (!Array.isArray(outcomes) || !outcomes.every((o) => o === 0 || o === 1 || o === 2 || o === 3)) {
      reader.issue(join(path, "outcomes"), "expected an array of outcome codes 0 to 3");
    }
    if (reader.issues.length > before) return undefined;
    return { type, size, outcomes: outcomes as number[] } satisfies CountWindowJSON;
  }
  const buckets = obj.buckets;
  if (!Array.isArray(buckets) || !buckets.every(isBucket)) {
    reader.issue(
      join(path, "buckets"),
      "expected an array of [calls, failed, slow, slowFailed] tuples of whole numbers",
    );
  }
  if (reader.issues.length > before) return undefined;
  return { type, size, buckets: buckets as TimeWindowJSON["buckets"] } satisfies TimeWindowJSON;
}

function isBucket(value: unknown): boolean {
  if (!Array.isArray(value) || value.length !== 4) return false;
  if (!value.every((n) => Number.isInteger(n) && n >= 0)) return false;
  const [calls, failed, slow, slowFailed] = value as number[];
  return failed! <= calls! && slow! <= calls! && slowFailed! <= Math.min(failed!, slow!);
}
