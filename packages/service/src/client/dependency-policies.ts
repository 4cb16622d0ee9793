import {
  type BackoffConfig,
  type BulkheadOptions,
  type CircuitBreakerOptions,
  type ConfigReader,
  type Duration,
  parseBulkheadOptions,
  parseCircuitBreakerOptions,
  parseRateLimiterOptions,
  parseRetryOptions,
  type RateLimiterOptions,
  type RetryBudgetOptions,
} from "@flotilla/resilience";
import semver from "semver";

/**
 * What answers for a failed call:
 * - `value`: a constant, checked at construction against the response schema of every route it
 *   applies to (give routes of another shape their own under `routes`);
 * - `stale-cache`: the last successful response to the same request (method, path and query),
 *   while younger than `ttl`;
 * - `service`: the same request sent to another service (a replica, a degraded twin) through
 *   discovery, one attempt within the remaining deadline, its response checked against the route;
 * - `queue`: the call is handed to the `fallbackQueue` of {@link serviceClients} as a
 *   {@link QueuedCall}, and the caller gets a `ServiceCallQueuedError` with the job id;
 * - `none`: no fallback (to turn a dependency-wide one off for one route).
 *
 * A fallback answers for dependency failures (5xx, connection errors, timeouts, an open breaker,
 * a full bulkhead, a rate limit, a bad response, no instance), never for a 4xx the callee chose
 * (other than 408 and 429): "no such order" is an answer, not an outage.
 */
export type FallbackConfig =
  | { readonly type: "value"; readonly value: unknown }
  | { readonly type: "stale-cache"; readonly ttl: Duration; readonly maxEntries?: number }
  | { readonly type: "service"; readonly service: string; readonly versions?: string }
  | { readonly type: "queue" }
  | { readonly type: "none" };

/** Retries of a dependency: attempts in all (the first included), the wait between them, and a budget. */
export interface RetryConfig {
  /** Calls in all, the first included: 3 means at most two retries. Default 3. */
  readonly maxAttempts?: number;
  /** The wait before each retry. Default full jitter from 100 ms, capped at 10 s. */
  readonly backoff?: BackoffConfig;
  /** Retries allowed as a share of recent calls (`{ ratio: 0.2, minRetriesPerSecond: 10 }`), shared by every call of the dependency. */
  readonly budget?: Omit<RetryBudgetOptions, "clock">;
  /** The longest `Retry-After` to honour. Default 30 s. */
  readonly maxRetryAfter?: Duration;
  /** Retry 500 as well as 502, 503 and 504. Default false. */
  readonly retry500?: boolean;
}

/** Circuit breaker options as plain data (Resilience4j's names); see `@flotilla/resilience`. */
export type BreakerConfig = Omit<
  CircuitBreakerOptions,
  | "name"
  | "clock"
  | "restore"
  | "waitIntervalFunctionInOpenState"
  | "ignoreExceptions"
  | "recordExceptions"
  | "recordResult"
>;

/** Bulkhead options as plain data: `maxConcurrent`, `maxQueue`, `maxQueueWait`. */
export type BulkheadConfig = Omit<BulkheadOptions, "name" | "clock">;

/** Rate limiter options as plain data: `limitForPeriod`, `limitRefreshPeriod`, `timeoutDuration`. */
export type RateLimitConfig = Omit<RateLimiterOptions, "name" | "clock">;

/** Policies of one route that differ from its dependency's. */
export interface RoutePolicies {
  /** Replaces the dependency's fallback for this route. */
  readonly fallback?: FallbackConfig;
}

/**
 * The policies of one dependency, as plain data (YAML or a TypeScript object), validated when
 * the clients are built: a bad value throws a `ConfigError` naming its path
 * (`dependencies.inventory.policies.retry.maxAttempts`). Built once per dependency and composed,
 * outermost first: fallback → rate limit → timeout (whole call) → retry → circuit breaker →
 * attempt timeout → bulkhead → the request.
 */
export interface DependencyPolicies {
  /** The longest a call may take, all attempts and waits included. Default `"10s"`. */
  readonly timeout?: Duration;
  /** The longest one attempt may take. Default: the rest of the call's deadline. */
  readonly attemptTimeout?: Duration;
  /** Retries; none unless given. */
  readonly retry?: RetryConfig;
  /** A circuit breaker over the dependency's attempts; none unless given. */
  readonly breaker?: BreakerConfig;
  /** A bound on concurrent calls; none unless given. */
  readonly bulkhead?: BulkheadConfig;
  /** A bound on the call rate; none unless given. */
  readonly rateLimit?: RateLimitConfig;
  /** What answers for a failed call; none unless given. */
  readonly fallback?: FallbackConfig;
  /** Per-route overrides, by route name. */
  readonly routes?: Readonly<Record<string, RoutePolicies>>;
}

/** A {@link FallbackConfig} after validation (`ttl` in milliseconds). */
export type ResolvedFallback =
  | { readonly type: "value"; readonly value: unknown }
  | { readonly type: "stale-cache"; readonly ttl: number; readonly maxEntries: number | undefined }
  | { readonly type: "service"; readonly service: string; readonly versions: string | undefined }
  | { readonly type: "queue" };

/** {@link DependencyPolicies} after validation; policy options are kept as given, to build the policies from. */
export interface ResolvedDependencyPolicies {
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number | undefined;
  readonly retry:
    | { readonly options: Readonly<Record<string, unknown>>; readonly retry500: boolean }
    | undefined;
  readonly breaker: Readonly<Record<string, unknown>> | undefined;
  readonly bulkhead: Readonly<Record<string, unknown>> | undefined;
  readonly rateLimit: Readonly<Record<string, unknown>> | undefined;
  readonly fallback: ResolvedFallback | undefined;
  /** Route fallbacks that replace the dependency's (`null`: none for that route). */
  readonly routeFallbacks: ReadonlyMap<string, ResolvedFallback | null>;
}

/** The default whole-call timeout. */
export const defaultDependencyTimeoutMs = 10_000;

const policyKeys = [
  "timeout",
  "attemptTimeout",
  "retry",
  "breaker",
  "bulkhead",
  "rateLimit",
  "fallback",
  "routes",
];
const retryKeys = ["maxAttempts", "backoff", "budget", "maxRetryAfter", "retry500"];
const fallbackTypes = ["value", "stale-cache", "service", "queue", "none"];

/**
 * Reads {@link DependencyPolicies}, recording every problem in `reader` at its path under `path`.
 * `routeNames` are the contract's routes, which `routes` may name.
 */
export function parseDependencyPolicies(
  raw: unknown,
  reader: ConfigReader,
  path: string,
  routeNames: readonly string[],
): ResolvedDependencyPolicies {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, policyKeys, path);
  const timeoutMs = reader.duration(obj, "timeout", path, defaultDependencyTimeoutMs, { above: 0 });
  const attemptTimeoutMs = reader.optionalDuration(obj, "attemptTimeout", path, { above: 0 });

  let retry: ResolvedDependencyPolicies["retry"];
  if (obj.retry !== undefined) {
    const at = join(path, "retry");
    const { retry500, ...options } = reader.object(obj.retry, at);
    reader.knownKeys({ retry500, ...options }, retryKeys, at);
    parseRetryOptions(options, reader, at);
    retry = {
      options,
      retry500: reader.boolean({ retry500 }, "retry500", at, false),
    };
  }
  const breaker = section(obj, "breaker", path, reader, parseCircuitBreakerOptions, [
    "name",
    "clock",
    "restore",
    "waitIntervalFunctionInOpenState",
    "ignoreExceptions",
    "recordExceptions",
    "recordResult",
  ]);
  const bulkhead = section(obj, "bulkhead", path, reader, parseBulkheadOptions, ["name", "clock"]);
  const rateLimit = section(obj, "rateLimit", path, reader, parseRateLimiterOptions, ["name", "clock"]);
  const fallback = parseFallback(obj.fallback, reader, join(path, "fallback")) ?? undefined;

  const routeFallbacks = new Map<string, ResolvedFallback | null>();
  const routesAt = join(path, "routes");
  const routes = reader.object(obj.routes, routesAt);
  for (const [name, rawRoute] of Object.entries(routes)) {
    const at = join(routesAt, name);
    if (!routeNames.includes(name)) {
      reader.issue(at, `unknown route; the contract's routes are ${routeNames.join(", ")}`);
      continue;
    }
    const route = reader.object(rawRoute, at);
    reader.knownKeys(route, ["fallback"], at);
    if (route.fallback !== undefined) {
      routeFallbacks.set(name, parseFallback(route.fallback, reader, join(at, "fallback")) ?? null);
    }
  }
  return { timeoutMs, attemptTimeoutMs, retry, breaker, bulkhead, rateLimit, fallback, routeFallbacks };
}

/** Validates a policy section with its resilience parser, refusing the options that the client sets itself. */
function section(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  reader: ConfigReader,
  parse: (raw: unknown, reader: ConfigReader, path: string) => unknown,
  reserved: readonly string[],
): Readonly<Record<string, unknown>> | undefined {
  if (obj[key] === undefined) return undefined;
  const at = join(path, key);
  const options = reader.object(obj[key], at);
  for (const name of reserved) {
    if (options[name] !== undefined)
      reader.issue(join(at, name), "set by the service client; not configurable here");
  }
  parse(options, reader, at);
  return options;
}

/** Reads a {@link FallbackConfig}; `null` for `{ type: "none" }`, `undefined` when absent or invalid. */
function parseFallback(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedFallback | null | undefined {
  if (raw === undefined) return undefined;
  const obj = reader.object(raw, path);
  const type = obj.type;
  const typeAt = join(path, "type");
  switch (type) {
    case "value":
      reader.knownKeys(obj, ["type", "value"], path);
      if (!Object.hasOwn(obj, "value"))
        reader.issue(join(path, "value"), "required: the value to answer with");
      return { type, value: obj.value };
    case "stale-cache": {
      reader.knownKeys(obj, ["type", "ttl", "maxEntries"], path);
      if (obj.ttl === undefined)
        reader.issue(join(path, "ttl"), 'required: how long a response may be served, such as "5m"');
      const ttl = reader.duration(obj, "ttl", path, 1, { above: 0 });
      const maxEntries =
        obj.maxEntries === undefined
          ? undefined
          : reader.number(obj, "maxEntries", path, 1000, { integer: true, min: 1 });
      return { type, ttl, maxEntries };
    }
    case "service": {
      reader.knownKeys(obj, ["type", "service", "versions"], path);
      if (typeof obj.service !== "string" || obj.service === "") {
        reader.issue(join(path, "service"), "required: the name of the service to call instead");
      }
      const versions = parseVersions(obj.versions, reader, join(path, "versions"));
      return { type, service: String(obj.service), versions };
    }
    case "queue":
      reader.knownKeys(obj, ["type"], path);
      return { type };
    case "none":
      reader.knownKeys(obj, ["type"], path);
      return null;
    default:
      reader.issue(
        typeAt,
        `expected one of ${fallbackTypes.map((t) => `"${t}"`).join(", ")}, got ${type === undefined ? "nothing" : JSON.stringify(type)}`,
      );
      return undefined;
  }
}

/** Reads an optional npm semver range (`^1.2.0`), recording a problem when it is not one. */
export function parseVersions(raw: unknown, reader: ConfigReader, path: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || semver.validRange(raw) === null) {
    reader.issue(path, `expected an npm semver range such as "^1.2.0", got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return raw;
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
