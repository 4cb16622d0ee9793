import type { Logger, Metrics } from "@flotilla/observability";
import { type Clock, ConfigReader, type Duration } from "@flotilla/resilience";
import type { Store } from "../store/store.js";
import type { InstanceHealthCheckerOptions } from "./instance-health.js";

/** Self-preservation settings (see `SelfPreservation`); `false` turns it off. */
export interface RegistrySelfPreservationOptions {
  /** Share of leases lapsing within the window above which expiry stops, in (0, 1]. Default 0.5. */
  readonly threshold?: number;
  /** The window lapses are counted in, whole seconds. Default `"30s"`. */
  readonly window?: Duration;
  /** Never active with fewer leases than this. Default 5. */
  readonly minLeases?: number;
}

/** Limits that protect the server from too much of anything. */
export interface RegistryLimits {
  /** Registered instances at most; a registration beyond answers 429. Default 10,000. */
  readonly maxInstances?: number;
  /** KV entries at most; a new key beyond answers 429. Default 100,000. */
  readonly maxKvEntries?: number;
  /** Sustained registrations per second over all clients. Default 1,000. */
  readonly registrationRate?: number;
  /** Extra registrations allowed at once above the rate. Default 2,000. */
  readonly registrationBurst?: number;
  /** Largest registration body in bytes (413 beyond). Default 64 KiB. */
  readonly maxRegistrationBytes?: number;
  /** Largest KV value in bytes (413 beyond). Default 512 KiB. */
  readonly maxKvValueBytes?: number;
  /** Blocking queries parked at once (429 beyond). Default 10,000. */
  readonly maxBlockingQueries?: number;
  /** SSE streams open at once (429 beyond). Default 10,000. */
  readonly maxStreams?: number;
  /** Bytes a stream's client may leave unread before it is dropped. Default 1 MiB. */
  readonly maxStreamBufferBytes?: number;
}

/** Options of {@link registryServer}. */
export interface RegistryServerOptions {
  /** Where the registry's state lives; the server never closes it. */
  readonly store: Store;
  /** Timers and durations (blocking waits, expiry, checks). Default the system clock. */
  readonly clock?: Clock;
  /** Epoch milliseconds for `registeredAt` and check `since`. Default `Date.now`. */
  readonly wallClock?: () => number;
  /** `[0, 1)` for jitter. Default `Math.random`. */
  readonly random?: () => number;
  /** Default: `createLogger({ service: "flotilla-registry", instanceId })`. */
  readonly logger?: Logger;
  /** Default: `createMetrics({ service: "flotilla-registry", instanceId })`, served at `/metrics`. */
  readonly metrics?: Metrics;
  /** This server's id in the default logger and metrics. Default `registry-<pid>`. */
  readonly instanceId?: string;
  readonly limits?: RegistryLimits;
  /** A blocking query's `wait` when it names none. Default `"30s"`. */
  readonly defaultWait?: Duration;
  /** The longest `wait`; longer ones are cut to it. Default `"5m"`. */
  readonly maxWait?: Duration;
  /** Time between SSE `: ping` comments. Default `"15s"`. */
  readonly pingInterval?: Duration;
  /** How long an instance whose lease lapsed stays, critical, unless its ttl check says otherwise. Default `"60s"`. */
  readonly lapsedDeregisterAfter?: Duration;
  /** Default on with its defaults. */
  readonly selfPreservation?: RegistrySelfPreservationOptions | false;
  /** Passed to the health checker (probe, concurrency, jitter, …). */
  readonly healthChecks?: InstanceHealthCheckerOptions;
  /** How long a write waits for the server's view to show it before answering anyway. Default `"5s"`. */
  readonly catchUpTimeout?: Duration;
}

/** {@link RegistryServerOptions} validated, durations in milliseconds. */
export interface ResolvedRegistryServerOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly wallClock: () => number;
  readonly random: () => number;
  readonly logger: Logger | undefined;
  readonly metrics: Metrics | undefined;
  readonly instanceId: string;
  readonly limits: Required<RegistryLimits>;
  readonly defaultWaitMs: number;
  readonly maxWaitMs: number;
  readonly pingIntervalMs: number;
  readonly lapsedDeregisterAfterMs: number;
  readonly selfPreservation:
    | { readonly threshold: number; readonly windowMs: number; readonly minLeases: number }
    | false;
  readonly healthChecks: InstanceHealthCheckerOptions;
  readonly catchUpTimeoutMs: number;
}

/** The defaults of {@link RegistryServerOptions}. */
export const registryServerDefaults = Object.freeze({
  limits: Object.freeze({
    maxInstances: 10_000,
    maxKvEntries: 100_000,
    registrationRate: 1_000,
    registrationBurst: 2_000,
    maxRegistrationBytes: 64 * 1024,
    maxKvValueBytes: 512 * 1024,
    maxBlockingQueries: 10_000,
    maxStreams: 10_000,
    maxStreamBufferBytes: 1024 * 1024,
  }),
  defaultWaitMs: 30_000,
  maxWaitMs: 300_000,
  pingIntervalMs: 15_000,
  lapsedDeregisterAfterMs: 60_000,
  selfPreservation: Object.freeze({ threshold: 0.5, windowMs: 30_000, minLeases: 5 }),
  catchUpTimeoutMs: 5_000,
});

const known = [
  "store",
  "clock",
  "wallClock",
  "random",
  "logger",
  "metrics",
  "instanceId",
  "limits",
  "defaultWait",
  "maxWait",
  "pingInterval",
  "lapsedDeregisterAfter",
  "selfPreservation",
  "healthChecks",
  "catchUpTimeout",
];

/**
 * Validates registry server options; throws a `ConfigError` naming every bad one by path
 * (`limits.maxInstances`, `selfPreservation.threshold`).
 */
export function parseRegistryServerOptions(options: RegistryServerOptions): ResolvedRegistryServerOptions {
  const r = new ConfigReader();
  const obj = r.object(options, "");
  r.knownKeys(obj, known, "");
  const store = obj.store as Partial<Store> | undefined;
  if (store === undefined) r.issue("store", "required: a Store (embeddedStore(), etcdStore())");
  else if (
    typeof store !== "object" ||
    store === null ||
    typeof store.watch !== "function" ||
    typeof store.keepAlive !== "function"
  ) {
    r.issue("store", "expected a Store");
  }
  const logger = obj.logger as Partial<Logger> | undefined;
  if (logger !== undefined && (typeof logger !== "object" || typeof logger?.warn !== "function")) {
    r.issue("logger", "expected a Logger");
  }
  const metrics = obj.metrics as Partial<Metrics> | undefined;
  if (metrics !== undefined && (typeof metrics !== "object" || typeof metrics?.render !== "function")) {
    r.issue("metrics", "expected a Metrics from createMetrics()");
  }
  const l = r.object(obj.limits, "limits");
  r.knownKeys(l, Object.keys(registryServerDefaults.limits), "limits");
  const d = registryServerDefaults.limits;
  const count = { integer: true, min: 1 };
  const limits: Required<RegistryLimits> = {
    maxInstances: r.number(l, "maxInstances", "limits", d.maxInstances, count),
    maxKvEntries: r.number(l, "maxKvEntries", "limits", d.maxKvEntries, count),
    registrationRate: r.number(l, "registrationRate", "limits", d.registrationRate, { above: 0 }),
    registrationBurst: r.number(l, "registrationBurst", "limits", d.registrationBurst, {
      integer: true,
      min: 0,
    }),
    maxRegistrationBytes: r.number(l, "maxRegistrationBytes", "limits", d.maxRegistrationBytes, count),
    maxKvValueBytes: r.number(l, "maxKvValueBytes", "limits", d.maxKvValueBytes, count),
    maxBlockingQueries: r.number(l, "maxBlockingQueries", "limits", d.maxBlockingQueries, {
      integer: true,
      min: 0,
    }),
    maxStreams: r.number(l, "maxStreams", "limits", d.maxStreams, { integer: true, min: 0 }),
    maxStreamBufferBytes: r.number(l, "maxStreamBufferBytes", "limits", d.maxStreamBufferBytes, count),
  };
  let selfPreservation: ResolvedRegistryServerOptions["selfPreservation"] = false;
  if (obj.selfPreservation !== false) {
    const sp = r.object(obj.selfPreservation, "selfPreservation");
    r.knownKeys(sp, ["threshold", "window", "minLeases"], "selfPreservation");
    const sd = registryServerDefaults.selfPreservation;
    selfPreservation = {
      threshold: r.number(sp, "threshold", "selfPreservation", sd.threshold, { above: 0, max: 1 }),
      windowMs: r.duration(sp, "window", "selfPreservation", sd.windowMs, { min: 1000, max: 3_600_000 }),
      minLeases: r.number(sp, "minLeases", "selfPreservation", sd.minLeases, { integer: true, min: 0 }),
    };
    if (selfPreservation.windowMs % 1000 !== 0) r.issue("selfPreservation.window", "must be whole seconds");
  }
  const healthChecks = r.object(obj.healthChecks, "healthChecks");
  const defaultWaitMs = r.duration(obj, "defaultWait", "", registryServerDefaults.defaultWaitMs, {
    above: 0,
  });
  const maxWaitMs = r.duration(obj, "maxWait", "", registryServerDefaults.maxWaitMs, {
    above: 0,
    max: 3_600_000,
  });
  if (defaultWaitMs > maxWaitMs) r.issue("defaultWait", `must be at most maxWait (${maxWaitMs} ms)`);
  const resolved: ResolvedRegistryServerOptions = {
    store: store as Store,
    clock: r.clock(obj, "clock", ""),
    wallClock: r.fn<() => number>(obj, "wallClock", "") ?? Date.now,
    random: r.fn<() => number>(obj, "random", "") ?? Math.random,
    logger: logger as Logger | undefined,
    metrics: metrics as Metrics | undefined,
    instanceId: r.string(obj, "instanceId", "", `registry-${process.pid}`),
    limits,
    defaultWaitMs,
    maxWaitMs,
    pingIntervalMs: r.duration(obj, "pingInterval", "", registryServerDefaults.pingIntervalMs, { above: 0 }),
    lapsedDeregisterAfterMs: r.duration(
      obj,
      "lapsedDeregisterAfter",
      "",
      registryServerDefaults.lapsedDeregisterAfterMs,
      { min: 0, max: 86_400_000 },
    ),
    selfPreservation,
    healthChecks: healthChecks as InstanceHealthCheckerOptions,
    catchUpTimeoutMs: r.duration(obj, "catchUpTimeout", "", registryServerDefaults.catchUpTimeoutMs, {
      above: 0,
    }),
  };
  r.throwIfInvalid();
  return resolved;
}
