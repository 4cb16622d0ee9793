import type { Logger } from "@flotilla/observability";
import type { Clock, ConfigReader } from "@flotilla/resilience";
import type { CheckStatus } from "../registration.js";
import type { Probe, ProbeResult } from "./probe.js";

/** Options of a {@link HealthChecker}. */
export interface HealthCheckerOptions {
  /** Schedules runs and their timeouts. Default the system clock. */
  readonly clock?: Clock;
  /** Epoch milliseconds, for each check's `since`. Default `Date.now`. */
  readonly wallClock?: () => number;
  /** Runs the checks. Default a `SystemProbe` of the checker's own, closed with it. */
  readonly probe?: Probe;
  /** Runs in flight at once, over all instances; further due runs wait in a queue. Default 64. */
  readonly maxConcurrent?: number;
  /**
   * Each next run is scheduled `interval × (1 ± jitter)` after the previous one finished, uniformly
   * at random, so checks registered together drift apart. From 0 to 0.5; default 0.1.
   */
  readonly jitter?: number;
  /**
   * A newly tracked instance's first run of each check starts after a random delay in
   * `[0, min(interval, firstRunSpreadMs))`: soon enough that a new instance goes into rotation
   * within a second, spread enough that a burst of registrations is not probed at once.
   * Default 1000; 0 runs every check at once.
   */
  readonly firstRunSpreadMs?: number;
  /** Uniform numbers in `[0, 1)` for the jitter. Default `Math.random`. */
  readonly random?: () => number;
  /** Where a callback that throws is reported. Default none. */
  readonly logger?: Logger;
  /**
   * Consecutive passing runs before a check turns `passing` (Consul's `success_before_passing`).
   * Default 1.
   */
  readonly successBeforePassing?: number;
  /**
   * Consecutive failing runs (warning or critical) before a check takes that status (Consul's
   * `failures_before_critical`). Default 1.
   */
  readonly failuresBeforeCritical?: number;
  /**
   * Called with all of an instance's checks after the first result each check takes once tracked
   * (even when it leaves the status as it was, so a check failing from the start still reports its
   * output), and then whenever one of them changes `status` (not when only its `output` does); the
   * instance's aggregate status may have changed.
   */
  readonly onChange: (instanceId: string, checks: readonly CheckStatus[]) => void;
  /** Called after every completed run (not for runs cancelled by `untrack` or `close`), for metrics. */
  readonly onRun?: (type: "http" | "tcp", result: ProbeResult) => void;
}

/** {@link HealthCheckerOptions} after validation, defaults applied. */
export interface ResolvedHealthCheckerOptions {
  readonly clock: Clock;
  readonly wallClock: () => number;
  readonly probe: Probe | undefined;
  readonly maxConcurrent: number;
  readonly jitter: number;
  readonly firstRunSpreadMs: number;
  readonly random: () => number;
  readonly logger: Logger | undefined;
  readonly successBeforePassing: number;
  readonly failuresBeforeCritical: number;
  readonly onChange: (instanceId: string, checks: readonly CheckStatus[]) => void;
  readonly onRun: ((type: "http" | "tcp", result: ProbeResult) => void) | undefined;
}

/** The defaults of {@link HealthCheckerOptions}. */
export const healthCheckerDefaults = {
  maxConcurrent: 64,
  jitter: 0.1,
  firstRunSpreadMs: 1000,
  successBeforePassing: 1,
  failuresBeforeCritical: 1,
} as const;

const knownKeys = [
  "clock",
  "wallClock",
  "probe",
  "maxConcurrent",
  "jitter",
  "firstRunSpreadMs",
  "random",
  "logger",
  "successBeforePassing",
  "failuresBeforeCritical",
  "onChange",
  "onRun",
];

/** Validates health-checker options, recording every problem with its path under `path`. */
export function parseHealthCheckerOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedHealthCheckerOptions {
  const d = healthCheckerDefaults;
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, knownKeys, path);
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  const probe = obj.probe as Partial<Probe> | undefined;
  if (
    probe !== undefined &&
    (typeof probe !== "object" ||
      probe === null ||
      typeof probe.http !== "function" ||
      typeof probe.tcp !== "function")
  ) {
    reader.issue(at("probe"), "expected a Probe with http() and tcp()");
  }
  const logger = obj.logger as Partial<Logger> | undefined;
  if (logger !== undefined && (typeof logger !== "object" || typeof logger?.error !== "function")) {
    reader.issue(at("logger"), "expected a Logger");
  }
  const onChange = reader.fn<ResolvedHealthCheckerOptions["onChange"]>(obj, "onChange", path);
  if (obj.onChange === undefined) reader.issue(at("onChange"), "required");
  const count = { integer: true, min: 1 };
  return {
    clock: reader.clock(obj, "clock", path),
    wallClock: reader.fn<() => number>(obj, "wallClock", path) ?? Date.now,
    probe: probe as Probe | undefined,
    maxConcurrent: reader.number(obj, "maxConcurrent", path, d.maxConcurrent, count),
    jitter: reader.number(obj, "jitter", path, d.jitter, { min: 0, max: 0.5 }),
    firstRunSpreadMs: reader.number(obj, "firstRunSpreadMs", path, d.firstRunSpreadMs, { min: 0 }),
    random: reader.fn<() => number>(obj, "random", path) ?? Math.random,
    logger: logger as Logger | undefined,
    successBeforePassing: reader.number(obj, "successBeforePassing", path, d.successBeforePassing, count),
    failuresBeforeCritical: reader.number(
      obj,
      "failuresBeforeCritical",
      path,
      d.failuresBeforeCritical,
      count,
    ),
    onChange: onChange ?? (() => {}),
    onRun: reader.fn<NonNullable<ResolvedHealthCheckerOptions["onRun"]>>(obj, "onRun", path),
  };
}
