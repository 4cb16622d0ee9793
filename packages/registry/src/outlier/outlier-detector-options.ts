import type { Clock, ConfigReader, Duration } from "@flotilla/resilience";

/**
 * Options of an {@link OutlierDetector}. Names, meanings and defaults follow Envoy's outlier
 * detection (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto),
 * limited to its consecutive-error detectors.
 */
export interface OutlierDetectorOptions {
  /** Appears in events; typically the service whose instances are watched. Default `"default"`. */
  readonly name?: string | undefined;
  /** Time source and the return timer. Default the system clock (`systemClock` of `@flotilla/resilience`). */
  readonly clock?: Clock | undefined;
  /**
   * Consecutive 5xx or connection errors that eject an instance. Default 5; 0 turns this detector off.
   */
  readonly consecutive5xx?: number | undefined;
  /**
   * Consecutive gateway errors (502, 503, 504) or connection errors that eject an instance; any
   * other outcome, a 500 included, breaks the run. Default 0: off, as Envoy enforces it only when
   * `enforcing_consecutive_gateway_failure` is raised from its default of 0.
   */
  readonly consecutiveGatewayErrors?: number | undefined;
  /** The first ejection's length; the n-th lasts n times as long (see `interval`). Default `"30s"`. */
  readonly baseEjectionTime?: Duration | undefined;
  /** The longest an ejection lasts. Default `"300s"`, or `baseEjectionTime` when that is longer; not below it. */
  readonly maxEjectionTime?: Duration | undefined;
  /**
   * The most of the current membership, in percent, that may be ejected at once: an instance is
   * ejected only if the ejected instances, it included, are at most this share of the membership
   * (Envoy since envoyproxy/envoy#27909). With the default of 10 no instance of a membership under
   * 10 can be ejected unless `alwaysEjectOneInstance` is set. Default 10; from 0 to 100.
   */
  readonly maxEjectionPercent?: number | undefined;
  /**
   * Let one instance be ejected when none is, whatever `maxEjectionPercent` says (Envoy's
   * `always_eject_one_host`, which was the only behaviour before envoyproxy/envoy#27909). With two
   * instances this ejects at most one of them; the only member is never ejected. Default true in Flotilla, unlike Envoy: services here
   * often run two or three instances, where a 10 % cap alone would never eject anything; set it to
   * false for Envoy's behaviour.
   */
  readonly alwaysEjectOneInstance?: boolean | undefined;
  /**
   * How long an instance must stay in service for its ejection multiplier to drop by one. Envoy
   * decrements the multiplier on every sweep `interval` (default 10 s) an instance is not ejected;
   * here the decay is computed from the time of its return when it is next ejected, so no sweep
   * runs. Default `"10s"`.
   */
  readonly interval?: Duration | undefined;
  /**
   * Keep one unref'd timer for the earliest return, so that `returned` events are emitted on time
   * even when nothing queries the detector. Without it an instance returns (and the event is
   * emitted) when `isEjected`, `filter`, `record` or `snapshot` next looks at it, which is all picks
   * need. Call {@link OutlierDetector.close} to clear the timer. Default false.
   */
  readonly returnTimer?: boolean | undefined;
}

/** {@link OutlierDetectorOptions} after validation, durations in milliseconds. */
export interface ResolvedOutlierDetectorOptions {
  readonly name: string;
  readonly clock: Clock;
  readonly consecutive5xx: number;
  readonly consecutiveGatewayErrors: number;
  readonly baseEjectionTime: number;
  readonly maxEjectionTime: number;
  readonly maxEjectionPercent: number;
  readonly alwaysEjectOneInstance: boolean;
  readonly interval: number;
  readonly returnTimer: boolean;
}

/** Envoy's defaults for the consecutive-error detectors. */
export const outlierDetectorDefaults = {
  name: "default",
  consecutive5xx: 5,
  consecutiveGatewayErrors: 0,
  baseEjectionTime: 30_000,
  maxEjectionTime: 300_000,
  maxEjectionPercent: 10,
  alwaysEjectOneInstance: true,
  interval: 10_000,
  returnTimer: false,
} as const;

const knownKeys = [
  "name",
  "clock",
  "consecutive5xx",
  "consecutiveGatewayErrors",
  "baseEjectionTime",
  "maxEjectionTime",
  "maxEjectionPercent",
  "alwaysEjectOneInstance",
  "interval",
  "returnTimer",
] as const;

/**
 * Validates outlier-detector options from code or plain configuration, recording every problem
 * with its path under `path` (e.g. `services.orders.outlierDetection.baseEjectionTime`).
 */
export function parseOutlierDetectorOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedOutlierDetectorOptions {
  const d = outlierDetectorDefaults;
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, knownKeys, path);
  const count = { integer: true, min: 0 };
  const baseEjectionTime = reader.duration(obj, "baseEjectionTime", path, d.baseEjectionTime, { above: 0 });
  // Envoy: an unset max_ejection_time is the larger of its default and base_ejection_time.
  const fallbackMax = Math.max(d.maxEjectionTime, baseEjectionTime);
  let maxEjectionTime = reader.duration(obj, "maxEjectionTime", path, fallbackMax, { above: 0 });
  if (maxEjectionTime < baseEjectionTime) {
    reader.issue(
      path === "" ? "maxEjectionTime" : `${path}.maxEjectionTime`,
      `must be at least baseEjectionTime (${baseEjectionTime} ms), got ${maxEjectionTime} ms`,
    );
    maxEjectionTime = fallbackMax;
  }
  return {
    name: reader.string(obj, "name", path, d.name),
    clock: reader.clock(obj, "clock", path),
    consecutive5xx: reader.number(obj, "consecutive5xx", path, d.consecutive5xx, count),
    consecutiveGatewayErrors: reader.number(
      obj,
      "consecutiveGatewayErrors",
      path,
      d.consecutiveGatewayErrors,
      count,
    ),
    baseEjectionTime,
    maxEjectionTime,
    maxEjectionPercent: reader.number(obj, "maxEjectionPercent", path, d.maxEjectionPercent, {
      min: 0,
      max: 100,
    }),
    alwaysEjectOneInstance: reader.boolean(obj, "alwaysEjectOneInstance", path, d.alwaysEjectOneInstance),
    interval: reader.duration(obj, "interval", path, d.interval, { above: 0 }),
    returnTimer: reader.boolean(obj, "returnTimer", path, d.returnTimer),
  };
}
