import { type Clock, systemClock } from "../clock.js";
import { type ConfigReader, join } from "../config/config-reader.js";
import type { Duration } from "../duration.js";
import { type CircuitBreakerJSON, parseCircuitBreakerJSON } from "./circuit-breaker-json.js";
import { SlidingWindowType } from "./sliding-window.js";

/**
 * Options of a circuit breaker. Names, meanings and defaults are Resilience4j's
 * (https://resilience4j.readme.io/docs/circuitbreaker#create-and-configure-a-circuitbreaker).
 */
export interface CircuitBreakerOptions {
  /** Appears in errors and events. Default `"default"`. */
  readonly name?: string | undefined;
  /** Time source and timers. Default {@link systemClock}. */
  readonly clock?: Clock | undefined;
  /** Failure rate in percent (0 < x ≤ 100) at or above which the breaker opens. Default 50. */
  readonly failureRateThreshold?: number | undefined;
  /** Slow-call rate in percent (0 < x ≤ 100) at or above which the breaker opens. Default 100. */
  readonly slowCallRateThreshold?: number | undefined;
  /**
   * A call taking strictly longer than this is slow. Default 60 s. `Infinity` turns slow-call
   * detection off, which also spares the clock reads around each call.
   */
  readonly slowCallDurationThreshold?: Duration | undefined;
  /** `COUNT_BASED` (the last N calls) or `TIME_BASED` (the last N seconds). Default `COUNT_BASED`. */
  readonly slidingWindowType?: SlidingWindowType | undefined;
  /** N: calls or seconds. Default 100. */
  readonly slidingWindowSize?: number | undefined;
  /**
   * Calls the window must hold before a rate is computed; below it the breaker never trips.
   * Default 100; a count-based window uses at most `slidingWindowSize`.
   */
  readonly minimumNumberOfCalls?: number | undefined;
  /** Probe calls permitted in `HALF_OPEN`, evaluated together once all have completed. Default 10. */
  readonly permittedNumberOfCallsInHalfOpenState?: number | undefined;
  /** Longest stay in `HALF_OPEN` before the breaker opens again; 0 waits for the probes. Default 0. */
  readonly maxWaitDurationInHalfOpenState?: Duration | undefined;
  /** How long `OPEN` rejects calls before probing. Default 60 s. Not together with `waitIntervalFunctionInOpenState`. */
  readonly waitDurationInOpenState?: Duration | undefined;
  /**
   * The wait in `OPEN` in milliseconds for the n-th consecutive opening (1 after closing, 2 when a
   * probe round failed, …), for exponential or random backoff. A result that is not a finite
   * non-negative number falls back to the default wait. Not together with `waitDurationInOpenState`.
   */
  readonly waitIntervalFunctionInOpenState?: ((openAttempt: number) => number) | undefined;
  /** Go from `OPEN` to `HALF_OPEN` on a timer rather than on the next call. Default false. */
  readonly automaticTransitionFromOpenToHalfOpenEnabled?: boolean | undefined;
  /** Errors for which this returns true count as nothing and release their permit. Checked first. */
  readonly ignoreExceptions?: ((error: unknown) => boolean) | undefined;
  /** Errors for which this returns false count as successes. Default: every error is a failure. */
  readonly recordExceptions?: ((error: unknown) => boolean) | undefined;
  /** Returned values for which this returns true count as failures (the value is still returned). */
  readonly recordResult?: ((result: unknown) => boolean) | undefined;
  /** A snapshot from `toJSON()` to start from. */
  readonly restore?: CircuitBreakerJSON | undefined;
}

/** {@link CircuitBreakerOptions} after validation, with durations in milliseconds. */
export interface ResolvedCircuitBreakerOptions {
  readonly name: string;
  readonly clock: Clock;
  readonly failureRateThreshold: number;
  readonly slowCallRateThreshold: number;
  readonly slowCallDurationThreshold: number;
  readonly slidingWindowType: SlidingWindowType;
  readonly slidingWindowSize: number;
  readonly minimumNumberOfCalls: number;
  readonly permittedNumberOfCallsInHalfOpenState: number;
  readonly maxWaitDurationInHalfOpenState: number;
  readonly waitDurationInOpenState: number;
  readonly waitIntervalFunctionInOpenState: ((openAttempt: number) => number) | undefined;
  readonly automaticTransitionFromOpenToHalfOpenEnabled: boolean;
  readonly ignoreExceptions: ((error: unknown) => boolean) | undefined;
  readonly recordExceptions: ((error: unknown) => boolean) | undefined;
  readonly recordResult: ((result: unknown) => boolean) | undefined;
  readonly restore: CircuitBreakerJSON | undefined;
}

/** Resilience4j's defaults. */
export const circuitBreakerDefaults = {
  name: "default",
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThreshold: 60_000,
  slidingWindowType: SlidingWindowType.COUNT_BASED,
  slidingWindowSize: 100,
  minimumNumberOfCalls: 100,
  permittedNumberOfCallsInHalfOpenState: 10,
  maxWaitDurationInHalfOpenState: 0,
  waitDurationInOpenState: 60_000,
  automaticTransitionFromOpenToHalfOpenEnabled: false,
} as const;

const knownKeys = [
  "name",
  "clock",
  "failureRateThreshold",
  "slowCallRateThreshold",
  "slowCallDurationThreshold",
  "slidingWindowType",
  "slidingWindowSize",
  "minimumNumberOfCalls",
  "permittedNumberOfCallsInHalfOpenState",
  "maxWaitDurationInHalfOpenState",
  "waitDurationInOpenState",
  "waitIntervalFunctionInOpenState",
  "automaticTransitionFromOpenToHalfOpenEnabled",
  "ignoreExceptions",
  "recordExceptions",
  "recordResult",
  "restore",
] as const;

/**
 * Validates circuit-breaker options from code or plain configuration, recording every problem
 * with its path under `path` (e.g. `instances.payments.waitDurationInOpenState`).
 */
export function parseCircuitBreakerOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedCircuitBreakerOptions {
  const d = circuitBreakerDefaults;
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, knownKeys, path);
  const percent = { above: 0, max: 100 };
  const count = { integer: true, min: 1 };

  const slowRaw = obj.slowCallDurationThreshold;
  const slowCallDurationThreshold =
    slowRaw === Number.POSITIVE_INFINITY || slowRaw === "Infinity"
      ? Number.POSITIVE_INFINITY
      : reader.duration(obj, "slowCallDurationThreshold", path, d.slowCallDurationThreshold, { above: 0 });

  const waitIntervalFunctionInOpenState = reader.fn<(openAttempt: number) => number>(
    obj,
    "waitIntervalFunctionInOpenState",
    path,
  );
  if (waitIntervalFunctionInOpenState !== undefined && obj.waitDurationInOpenState !== undefined) {
    reader.issue(
      join(path, "waitIntervalFunctionInOpenState"),
      "cannot be combined with waitDurationInOpenState; set one of them",
    );
  }

  return {
    name: reader.string(obj, "name", path, d.name),
    clock: reader.clock(obj, "clock", path),
    failureRateThreshold: reader.number(obj, "failureRateThreshold", path, d.failureRateThreshold, percent),
    slowCallRateThreshold: reader.number(
      obj,
      "slowCallRateThreshold",
      path,
      d.slowCallRateThreshold,
      percent,
    ),
    slowCallDurationThreshold,
    slidingWindowType: reader.oneOf(
      obj,
      "slidingWindowType",
      path,
      Object.values(SlidingWindowType),
      d.slidingWindowType,
    ),
    slidingWindowSize: reader.number(obj, "slidingWindowSize", path, d.slidingWindowSize, count),
    minimumNumberOfCalls: reader.number(obj, "minimumNumberOfCalls", path, d.minimumNumberOfCalls, count),
    permittedNumberOfCallsInHalfOpenState: reader.number(
      obj,
      "permittedNumberOfCallsInHalfOpenState",
      path,
      d.permittedNumberOfCallsInHalfOpenState,
      count,
    ),
    maxWaitDurationInHalfOpenState: reader.duration(
      obj,
      "maxWaitDurationInHalfOpenState",
      path,
      d.maxWaitDurationInHalfOpenState,
      { min: 0 },
    ),
    waitDurationInOpenState: reader.duration(
      obj,
      "waitDurationInOpenState",
      path,
      d.waitDurationInOpenState,
      {
        min: 1,
      },
    ),
    waitIntervalFunctionInOpenState,
    automaticTransitionFromOpenToHalfOpenEnabled: reader.boolean(
      obj,
      "automaticTransitionFromOpenToHalfOpenEnabled",
      path,
      d.automaticTransitionFromOpenToHalfOpenEnabled,
    ),
    ignoreExceptions: reader.fn(obj, "ignoreExceptions", path),
    recordExceptions: reader.fn(obj, "recordExceptions", path),
    recordResult: reader.fn(obj, "recordResult", path),
    restore: parseCircuitBreakerJSON(obj.restore, reader, join(path, "restore")),
  };
}
