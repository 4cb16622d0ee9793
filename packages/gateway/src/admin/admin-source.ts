import type { CircuitBreakerSnapshot } from "@flotilla/resilience";

/** One configured route, as `GET /routes` lists it. */
export interface RouteView {
  /** The route's id in the configuration. */
  readonly id: string;
  /** Host names the route answers for; empty for any host. */
  readonly hosts: readonly string[];
  /** The path pattern, as configured (`/api/users/:id`, `/static/**`). */
  readonly path: string;
  /** Upper-case methods the route accepts; empty for any method. */
  readonly methods: readonly string[];
  /** Where it goes, for a human: `users (registry)`, `http://10.0.0.5:8080`, `composite`. */
  readonly upstream: string;
  /** Its policies in chain order, each a short line: `authentication jwt`, `rate-limit 100/1m per consumer`, `timeout 5s`. */
  readonly policies: readonly string[];
}

/** A configuration problem found while reloading: where (`routes[3].path`) and what. */
export interface ReloadIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * What a reload came to: the new configuration in force, or the reason it was refused (the
 * previous configuration stays in force then).
 */
export type ReloadOutcome =
  | {
      readonly ok: true;
      /** The version now in force. */
      readonly version: number;
      /** How many routes it has. */
      readonly routes: number;
    }
  | {
      readonly ok: false;
      /** One line on why it was refused. */
      readonly message: string;
      /** Each problem found; empty when the failure was not about a setting (the file could not be read). */
      readonly issues: readonly ReloadIssue[];
    };

/** One instance of an upstream, as the balancer sees it now. */
export interface UpstreamInstanceView {
  /** `host:port` (or the static URL's origin). */
  readonly address: string;
  /** False when its health checks (or the registry) say it is down. */
  readonly healthy: boolean;
  /** True while outlier detection keeps it out of the balancer. */
  readonly ejected: boolean;
  /** Requests to it in progress. */
  readonly inFlight: number;
}

/** One upstream, as `GET /upstreams` lists it. */
export interface UpstreamView {
  readonly name: string;
  /** `registry` when its instances come from service discovery, `static` when listed in the configuration. */
  readonly kind: "registry" | "static";
  readonly instances: readonly UpstreamInstanceView[];
}

/**
 * One route's circuit breaker: its {@link CircuitBreakerSnapshot} (state, failure and slow-call
 * rates in percent or -1, window counts) plus the route it guards.
 */
export interface BreakerView extends CircuitBreakerSnapshot {
  readonly routeId: string;
}

/** One route's rate limit and what it decided since the configuration was loaded. */
export interface RateLimitView {
  /** The route's id. */
  readonly route: string;
  /** The policy, for a human: `100/1m burst 20 per consumer`. */
  readonly policy: string;
  /** Requests let through. */
  readonly allowed: number;
  /** Requests answered 429. */
  readonly limited: number;
  /** Decisions the shared store (Redis) failed to make, answered by the failure mode instead. */
  readonly backendErrors: number;
}

/** The configuration in force. */
export interface ConfigVersionView {
  /** Counts up by one on each successful load, from 1. */
  readonly version: number;
  /** ISO 8601 time it was loaded. */
  readonly loadedAt: string;
  /** Where it came from: a file path, `inline`, a KV key. */
  readonly source: string;
}

/**
 * What the admin API reads from and acts on: the running gateway implements it. Every read
 * returns plain JSON-friendly data describing the moment of the call; the admin server calls
 * them per admin request only, so they may build their answer then.
 */
export interface AdminSource {
  /** The routes of the configuration in force. */
  routes(): readonly RouteView[];
  /** Loads the configuration again; resolves (never rejects) with the outcome for a bad configuration. */
  reload(): Promise<ReloadOutcome>;
  /** The upstreams and their instances. */
  upstreams(): readonly UpstreamView[];
  /** The circuit breakers of routes that have one. */
  breakers(): readonly BreakerView[];
  /** The rate limits of routes that have one. */
  rateLimits(): readonly RateLimitView[];
  /** The version of the configuration in force. */
  configVersion(): ConfigVersionView;
}
