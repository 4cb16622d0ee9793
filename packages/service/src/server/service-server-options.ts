import type { HealthCheck, HealthCheckSpec, HealthChecks, Logger, Metrics } from "@flotilla/observability";
import { type Clock, ConfigReader, type Duration } from "@flotilla/resilience";
import type { HandlerDatabase } from "./handler-context.js";
import type { IdempotencyStore } from "./idempotency/idempotency-store.js";

/** Request limits of a service server. */
export interface ServiceLimits {
  /** Largest request body in bytes; a larger one is answered 413. Default 1 MiB. */
  readonly bodyLimit?: number;
  /** The most an `x-flotilla-timeout-ms` header may grant. Default `"60s"`. */
  readonly maxTimeout?: Duration;
  /** The deadline of a request without the header. Default none (unbounded). */
  readonly defaultTimeout?: Duration;
  /**
   * Check each handler's return value against the route's response schema; a mismatch is a 500
   * `FLT_SERVICE_RESPONSE_INVALID` naming each path in the log. Default on unless
   * `NODE_ENV=production` (clients validate responses anyway; this catches the bug at its source).
   */
  readonly validateResponses?: boolean;
  /**
   * Calls one wire-protocol connection may have in flight; more are answered 503
   * `FLT_SERVICE_UNAVAILABLE` with `retry-after: 0` at once. Default 1024. (An HTTP client has one
   * call in flight per connection.)
   */
  readonly wireCallsPerConnection?: number;
}

/** Idempotency-key handling of a service server. */
export interface ServiceIdempotencyOptions {
  /** Where keys are kept. Default a `MemoryIdempotencyStore` (one instance only). */
  readonly store?: IdempotencyStore;
  /** How long a key is remembered. Default `"24h"`. */
  readonly window?: Duration;
  /** How long a running request holds its key at least. Default `"60s"`. */
  readonly lockTimeout?: Duration;
}

/** Options of {@link serviceServer}. */
export interface ServiceServerOptions {
  /** This instance's id (logs, metrics, the registry). Default `<service>-<pid>-<random>`. */
  readonly instanceId?: string;
  /** Default `createLogger({ service, instanceId })`. */
  readonly logger?: Logger;
  /** Default `createMetrics({ service, instanceId })`. */
  readonly metrics?: Metrics;
  /** Readiness checks besides the service's own (`health.ready`): the database, required dependencies. */
  readonly readyChecks?: Readonly<Record<string, HealthCheck | HealthCheckSpec>>;
  /** Use these health checks instead of building them (the service's checks are then not added). */
  readonly health?: HealthChecks;
  /** What handlers get as `ctx.db`. Default: an object that throws `FLT_SERVICE_NO_DATABASE`. */
  readonly db?: HandlerDatabase;
  /** What handlers get as `ctx.clients`. Default `{}`. */
  readonly clients?: object;
  readonly limits?: ServiceLimits;
  readonly idempotency?: ServiceIdempotencyOptions;
  /** Timer source (deadlines, health checks). Default the system clock. */
  readonly clock?: Clock;
  /** Wall-clock epoch ms, for deadlines. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Accept the Flotilla wire protocol (calls multiplexed over one connection, after an HTTP
   * `Upgrade` on the same port) besides plain HTTP. Default `true`; `startService` then says so in
   * the instance's registration, and Flotilla clients use it for typed calls.
   */
  readonly wire?: boolean;
}

/** {@link ServiceServerOptions} after validation. */
export interface ResolvedServiceServerOptions {
  readonly bodyLimit: number;
  readonly wire: boolean;
  readonly wireCallsPerConnection: number;
  readonly maxTimeoutMs: number;
  readonly defaultTimeoutMs: number | undefined;
  readonly validateResponses: boolean;
  readonly idempotencyWindowMs: number;
  readonly idempotencyLockMs: number;
  readonly clock: Clock;
  readonly now: () => number;
}

const known = [
  "instanceId",
  "logger",
  "metrics",
  "readyChecks",
  "health",
  "db",
  "clients",
  "limits",
  "idempotency",
  "clock",
  "now",
  "wire",
];

/** Validates `options`; throws a `ConfigError` naming each bad one by path (`limits.bodyLimit`). */
export function parseServiceServerOptions(options: ServiceServerOptions): ResolvedServiceServerOptions {
  const reader = new ConfigReader();
  const o = reader.object(options, "");
  reader.knownKeys(o, known, "");
  const limits = reader.object(o.limits, "limits");
  reader.knownKeys(
    limits,
    ["bodyLimit", "maxTimeout", "defaultTimeout", "validateResponses", "wireCallsPerConnection"],
    "limits",
  );
  const wireCallsPerConnection = reader.number(limits, "wireCallsPerConnection", "limits", 1024, {
    min: 1,
    integer: true,
  });
  const idempotency = reader.object(o.idempotency, "idempotency");
  reader.knownKeys(idempotency, ["store", "window", "lockTimeout"], "idempotency");
  const bodyLimit = reader.number(limits, "bodyLimit", "limits", 1_048_576, { min: 1, integer: true });
  const maxTimeoutMs = reader.duration(limits, "maxTimeout", "limits", 60_000, { above: 0 });
  const defaultTimeoutMs = reader.optionalDuration(limits, "defaultTimeout", "limits", { above: 0 });
  const validateResponses = reader.boolean(
    limits,
    "validateResponses",
    "limits",
    process.env.NODE_ENV !== "production",
  );
  const idempotencyWindowMs = reader.duration(idempotency, "window", "idempotency", 86_400_000, { above: 0 });
  const idempotencyLockMs = reader.duration(idempotency, "lockTimeout", "idempotency", 60_000, { above: 0 });
  const store = idempotency.store as Partial<IdempotencyStore> | undefined;
  if (store !== undefined && (typeof store !== "object" || typeof store?.begin !== "function")) {
    reader.issue("idempotency.store", "expected an IdempotencyStore");
  }
  if (o.instanceId !== undefined) reader.string(o, "instanceId", "", "");
  if (o.now !== undefined && typeof o.now !== "function") reader.issue("now", "expected a function");
  const clock = reader.clock(o, "clock", "");
  const wire = reader.boolean(o, "wire", "", true);
  reader.throwIfInvalid();
  return {
    bodyLimit,
    wire,
    wireCallsPerConnection,
    maxTimeoutMs,
    defaultTimeoutMs: defaultTimeoutMs === undefined ? undefined : Math.min(defaultTimeoutMs, maxTimeoutMs),
    validateResponses,
    idempotencyWindowMs,
    idempotencyLockMs,
    clock,
    now: options.now ?? Date.now,
  };
}
