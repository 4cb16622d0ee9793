import { durationSchema as duration } from "@flotilla/registry";
import { ConfigError, type ConfigIssue } from "@flotilla/resilience";
import { z } from "zod";

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * The schema of a service's configuration (zod 4): plain data from a JSON file and `FLOTILLA_*`
 * environment variables, validated at start. Durations (`"5s"` or milliseconds) come out as
 * milliseconds. Unknown keys are refused, so a typo fails at start with its path.
 */
export const serviceConfig = z.strictObject({
  /** This instance's id in the registry, logs and metrics. Default `<service>-<host>-<pid>`. */
  instanceId: z.string().min(1).optional(),
  /** Interface to listen on. */
  host: z.string().min(1).prefault("127.0.0.1"),
  /** Port to listen on; 0 picks a free one. */
  port: z.number().int().min(0).max(65_535).prefault(0),
  /**
   * Processes serving `port` through `node:cluster`: above 1, `runService` becomes a primary that
   * forks this many workers, each its own registered instance (`<instanceId>-w<k>`).
   */
  workers: z.number().int().min(1).max(64).prefault(1),
  /** The address other services reach this instance at. Default `host`, or `127.0.0.1` for a wildcard host. */
  advertiseAddress: z.string().min(1).optional(),
  zone: z.string().min(1).optional(),
  /**
   * Speak the Flotilla wire protocol: accept it (and say so in the registration) and use it for
   * typed calls to instances that accept it. `false` keeps every call on plain HTTP.
   */
  wire: z.boolean().prefault(true),
  tags: z.array(z.string().min(1)).prefault([]),
  /** The registry to register with and discover dependencies from. Without it, neither happens. */
  registry: z
    .strictObject({
      /** One URL, or several (a list, or comma-separated in the environment). */
      url: z.union([z.url({ protocol: /^https?$/ }), z.array(z.url({ protocol: /^https?$/ })).min(1)]),
      /** Lease TTL; heartbeats at a third of it. */
      ttl: duration.prefault("10s"),
      /** How often the registry probes `/health/ready`. */
      checkInterval: duration.prefault("5s"),
      /** How long start waits for the registration before going on (it keeps retrying). */
      registerTimeout: duration.prefault("5s"),
    })
    .optional(),
  /** The service's own database (for a service that declares one). */
  database: z
    .strictObject({
      /** The service role's connection string; when set, nothing is provisioned. */
      url: z.string().min(1).optional(),
      /** A role that may create roles and databases, to provision the service's own (default the local `postgres`). */
      adminUrl: z.string().min(1).optional(),
      poolSize: z.number().int().min(1).prefault(10),
      /** `statement_timeout` of the pool's connections. */
      statementTimeout: duration.optional(),
    })
    .prefault({}),
  /** Per dependency (by the name the service uses): where it is, which versions, and its call policies. */
  dependencies: z
    .record(
      z.string(),
      z.strictObject({
        /** The registry name, when it differs from the contract's. */
        service: z.string().min(1).optional(),
        /** An npm semver range the instances must satisfy (`^1.0.0`). */
        versions: z.string().min(1).optional(),
        /** Not ready while no instance of it is available. */
        required: z.boolean().prefault(false),
        /** Timeout, retry, breaker, bulkhead, rateLimit, fallback, per-route overrides. */
        policies: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest request body, bytes. */
      bodyLimit: z.number().int().min(1).prefault(1_048_576),
      /** The most an `x-flotilla-timeout-ms` header may grant. */
      maxTimeout: duration.prefault("60s"),
      /** The deadline of a request without the header; none when unset. */
      defaultTimeout: duration.optional(),
      /** Check handlers' answers against their schemas; default on unless NODE_ENV=production. */
      validateResponses: z.boolean().optional(),
    })
    .prefault({}),
  idempotency: z
    .strictObject({
      /** How long an idempotency key is remembered. */
      window: duration.prefault("24h"),
      /** How long a running request holds its key at least. */
      lockTimeout: duration.prefault("60s"),
      /** `auto`: PostgreSQL when the service has a database, else memory. */
      store: z.enum(["auto", "memory", "postgres"]).prefault("auto"),
      /** Keys kept by the memory store. */
      maxEntries: z.number().int().min(1).prefault(10_000),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** How long to keep serving after deregistering, while callers' discovery caches drop this instance. */
      linger: duration.prefault("1s"),
      /** How long requests in flight may take to finish before they are cut. */
      drainTimeout: duration.prefault("10s"),
    })
    .prefault({}),
  telemetry: z
    .strictObject({
      /** Start OpenTelemetry tracing (once per process). */
      enabled: z.boolean().prefault(true),
      sampleRatio: z.number().min(0).max(1).optional(),
      exporter: z.enum(["otlp", "memory", "none"]).optional(),
      endpoint: z.url().optional(),
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(logLevels).optional() }).prefault({}),
});

/** A validated service configuration (durations in milliseconds). */
export type ServiceConfig = z.output<typeof serviceConfig>;

/** A service configuration as written (durations as `"5s"` or milliseconds; everything optional). */
export type ServiceConfigInput = z.input<typeof serviceConfig>;

/** Where a value came from, to name it in errors (`FLOTILLA_PORT`). */
export type ConfigSources = ReadonlyMap<string, string>;

/** The problems of a zod failure as config issues, one per path (`limits.bodyLimit`, `registry.url.1`). */
export function configIssues(error: z.ZodError, sources: ConfigSources = new Map()): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        issues.push({ path: base === "" ? key : `${base}.${key}`, message: "unknown option" });
      }
      continue;
    }
    const source = sources.get(base);
    issues.push({
      path: base,
      message: source === undefined ? issue.message : `${issue.message} (from ${source})`,
    });
  }
  return issues;
}

/**
 * Validates a configuration object. Throws a `ConfigError` (`FLT_CONFIG_INVALID`) listing every
 * bad value by its exact path, and the environment variable it came from when it did.
 */
export function parseServiceConfig(raw: unknown, sources?: ConfigSources): ServiceConfig {
  const result = serviceConfig.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(configIssues(result.error, sources));
  return result.data;
}
