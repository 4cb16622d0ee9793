import type { InstanceSource } from "@flotilla/registry";
import {
  type CircuitBreaker,
  ConfigError,
  type ConfigIssue,
  circuitBreaker,
  fullJitterBackoff,
  isFlotillaError,
  RetryBudget,
} from "@flotilla/resilience";
import type { Agent } from "undici";
import type { Exchange } from "../chain/exchange.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import type { Layer } from "../chain/layer.js";
import { type GatewayConfig, type RouteConfig, routeConfig } from "../config/gateway-config.js";
import { openApiEndpoint } from "../openapi/openapi-endpoint.js";
import { pooledUpstreamCaller } from "../proxy/pooled-upstream-caller.js";
import { type Upstream, upstream } from "../proxy/upstream.js";
import { type RetryOn, UpstreamStep, type WeightedUpstream } from "../proxy/upstream-step.js";
import { defaultNormalizePathOptions } from "../router/normalize-path.js";
import { rewriteTarget } from "../router/rewrite.js";
import type { HeaderMatchSpec } from "../router/route-match-spec.js";
import { compileRouter } from "../router/router.js";
import type { UpstreamPool } from "../upstream-client/upstream-pool.js";
import type { GatewayRoute, GatewaySnapshot } from "./gateway-snapshot.js";

/** What building a configuration needs from the running gateway. */
export interface CompileDependencies {
  /** The upstream connections every route's proxying shares. */
  readonly pool: UpstreamPool;
  /** undici dispatcher for the gateway's own calls (composite parts, OpenAPI documents). */
  readonly agent: Agent;
  /** The registry's instances, for `service` upstreams. */
  readonly cache: InstanceSource | undefined;
  readonly logger: GatewayLogger;
  /** Continue traces upstream from the gateway's server span. */
  readonly tracing?: boolean;
  /** Builds the layers of a route in chain order (CORS … transforms); none when absent. */
  readonly layers?: (route: RouteConfig, issues: ConfigIssue[], path: string) => Layer[];
  /** Builds the terminal of a route without upstream (a composite endpoint). */
  readonly terminal?: (
    route: RouteConfig,
    upstreams: ReadonlyMap<string, Upstream>,
    issues: ConfigIssue[],
    path: string,
  ) => Layer | undefined;
}

/**
 * Builds a {@link GatewaySnapshot} from a validated configuration: upstreams (each with its
 * balancer and outlier detector), per route its policies, layers and last step, and the router.
 * Every problem is collected with its path and thrown as one `ConfigError`, so a bad reload
 * changes nothing.
 */
export function compileGateway(
  config: GatewayConfig,
  deps: CompileDependencies,
  version: number,
  source: string,
): GatewaySnapshot {
  const issues: ConfigIssue[] = [];
  const upstreams = new Map<string, Upstream>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    try {
      if (u.service !== undefined && deps.cache === undefined) {
        issues.push({
          path: `upstreams.${name}.service`,
          message: "a registry upstream needs `registry.urls`",
        });
        continue;
      }
      upstreams.set(
        name,
        upstream({
          name,
          source:
            u.service !== undefined
              ? { kind: "registry", service: u.service, version: u.version }
              : { kind: "static", urls: u.urls! },
          cache: deps.cache,
          balancer: u.balancer as never,
          outlier: u.outlier as never,
        }),
      );
    } catch (error) {
      pushError(issues, `upstreams.${name}`, error);
    }
  }

  const routes: GatewayRoute[] = [];
  for (const { route, path } of allRoutes(config)) {
    try {
      routes.push(buildRoute(config, route, path, upstreams, deps, issues));
    } catch (error) {
      pushError(issues, path, error);
    }
  }
  let router: ReturnType<typeof compileRouter<GatewayRoute>> | undefined;
  if (config.openapi !== undefined) {
    const o = config.openapi;
    o.sources.forEach((source, i) => {
      if (!upstreams.has(source.upstream)) {
        issues.push({
          path: `openapi.sources.${i}.upstream`,
          message: `no upstream named "${source.upstream}"`,
        });
      }
    });
    // Configured ids start with a letter or digit, so this one cannot clash with a route's.
    const id = "_openapi";
    routes.push({
      id,
      config: {
        ...routeConfig.parse({ id: "openapi", match: { path: { exact: o.path }, methods: ["GET", "HEAD"] } }),
        id,
      },
      layers: [],
      terminal: openApiEndpoint({
        title: o.title,
        version: o.version,
        refreshMs: o.refresh,
        timeoutMs: o.timeout,
        sources: o.sources.map((s) => ({
          upstream: s.upstream,
          documentPath: s.documentPath,
          exposedAs: {
            prefix: s.prefix,
            ...(s.stripPrefix === undefined ? {} : { stripPrefix: s.stripPrefix }),
          },
        })),
        caller: pooledUpstreamCaller(upstreams, deps.agent),
        logger: deps.logger,
        isExposed: (method, template) => {
          const m = router?.match(method, "", template.replace(/\{[^}/]*\}/g, "x"), {});
          return m?.kind === "matched" && m.route.id !== id;
        },
      }),
      upstreamStep: undefined,
      breaker: undefined,
    });
  }
  if (issues.length === 0) {
    try {
      router = compileRouter(
        routes.map((r) => ({
          id: r.id,
          path: r.config.match.path,
          payload: r,
          priority: r.config.priority,
          ...(r.config.match.hosts === undefined ? {} : { hosts: r.config.match.hosts }),
          ...(r.config.match.methods === undefined
            ? {}
            : { methods: routerMethods(r.config, r.config.match.methods) }),
          ...(r.config.match.headers === undefined
            ? {}
            : { headers: r.config.match.headers as readonly HeaderMatchSpec[] }),
        })),
      );
    } catch (error) {
      pushError(issues, "routes", error);
    }
  }
  if (issues.length > 0 || router === undefined) {
    for (const u of upstreams.values()) u.close();
    for (const r of routes) void closeRoute(r);
    throw new ConfigError(issues);
  }
  return {
    version,
    loadedAt: new Date(),
    source,
    config,
    router,
    routes,
    upstreams,
    pathOptions: defaultNormalizePathOptions,
    inflight: 0,
    retired: false,
    async close() {
      await Promise.all(routes.map(closeRoute));
      for (const u of upstreams.values()) u.close();
    },
  };
}

/**
 * The routes of `routes` and of every route set (BFF), the latter with their set's name before
 * their id (`mobile.orders`), its prefix before their path, its hosts and its shaping unless
 * they have their own; each with the configuration path problems are reported at.
 */
export function allRoutes(config: GatewayConfig): { route: RouteConfig; path: string }[] {
  const out = config.routes.map((route, i) => ({ route, path: `routes.${i}` }));
  for (const [set, rs] of Object.entries(config.routeSets)) {
    rs.routes.forEach((route, i) => {
      const p = route.match.path;
      const prefixed = (value: string): string =>
        rs.prefix === undefined || rs.prefix === "/"
          ? value
          : value === "/"
            ? rs.prefix
            : `${rs.prefix}${value}`;
      out.push({
        path: `routeSets.${set}.routes.${i}`,
        route: {
          ...route,
          id: `${set}.${route.id}`,
          match: {
            ...route.match,
            path:
              "exact" in p
                ? { exact: prefixed(p.exact) }
                : "prefix" in p
                  ? { prefix: prefixed(p.prefix) }
                  : { template: prefixed(p.template) },
            ...(route.match.hosts === undefined && rs.hosts !== undefined ? { hosts: rs.hosts } : {}),
          },
          ...(route.shape === undefined && rs.shape !== undefined ? { shape: rs.shape } : {}),
        },
      });
    });
  }
  return out;
}

/** A CORS route also takes the preflight `OPTIONS`, which its CORS layer answers. */
function routerMethods(route: RouteConfig, methods: string[]): string[] {
  if (route.cors === undefined || methods.includes("OPTIONS")) return methods;
  return [...methods, "OPTIONS"];
}

function buildRoute(
  config: GatewayConfig,
  route: RouteConfig,
  path: string,
  upstreams: ReadonlyMap<string, Upstream>,
  deps: CompileDependencies,
  issues: ConfigIssue[],
): GatewayRoute {
  const layers = deps.layers?.(route, issues, path) ?? [];
  let terminal: Layer | undefined = deps.terminal?.(route, upstreams, issues, path);
  let step: UpstreamStep | undefined;
  let breaker: CircuitBreaker | undefined;
  if (terminal === undefined) {
    if (route.upstream === undefined) {
      issues.push({
        path: `${path}.upstream`,
        message: "a route needs an upstream (or a composite endpoint)",
      });
    }
    const targets: WeightedUpstream[] = [];
    const split =
      typeof route.upstream === "string" ? [{ upstream: route.upstream, weight: 1 }] : (route.upstream ?? []);
    split.forEach((t, i) => {
      const u = upstreams.get(t.upstream);
      if (u === undefined) {
        issues.push({
          path: typeof route.upstream === "string" ? `${path}.upstream` : `${path}.upstream.${i}.upstream`,
          message: `no upstream named "${t.upstream}" (known: ${[...upstreams.keys()].join(", ") || "none"})`,
        });
      } else if (t.weight > 0) targets.push({ upstream: u, weight: t.weight });
    });
    if (
      split.length > 0 &&
      targets.length === 0 &&
      !issues.some((i) => i.path.startsWith(`${path}.upstream`))
    ) {
      issues.push({ path: `${path}.upstream`, message: "every weight is 0" });
    }
    breaker = route.breaker === undefined ? undefined : circuitBreaker({ name: route.id, ...route.breaker });
    const rewrite =
      route.rewrite === undefined
        ? undefined
        : rewriteTarget(stripUndefined(route.rewrite), { routeId: route.id, path: route.match.path });
    const hashOn = route.hashOn;
    step = new UpstreamStep({
      routeId: route.id,
      targets,
      pool: deps.pool,
      timeoutMs: route.timeout,
      perTryTimeoutMs: route.perTryTimeout,
      idleTimeoutMs: route.idleTimeout,
      retry:
        route.retry === undefined
          ? undefined
          : {
              attempts: route.retry.attempts,
              on: new Set(route.retry.on as RetryOn[]),
              backoff: fullJitterBackoff({
                initialDelay: route.retry.backoff.base,
                maxDelay: route.retry.backoff.max,
              }),
              budget: new RetryBudget(route.retry.budget),
            },
      breaker,
      maxConcurrent: route.bulkhead?.maxConcurrent,
      maxRequestBodyBytes: route.maxBodyBytes ?? config.limits.maxBodyBytes,
      maxBufferedBytes: config.limits.maxBufferedResponseBytes,
      rewritePath:
        rewrite === undefined ||
        (route.rewrite?.prefix === undefined && route.rewrite?.template === undefined)
          ? undefined
          : (exchange: Exchange) => rewrite(exchange.path, exchange.query, exchange.params),
      rewriteHost: rewrite?.host,
      hashKey:
        hashOn === undefined
          ? undefined
          : hashOn === "ip"
            ? (exchange: Exchange) => exchange.clientIp
            : (exchange: Exchange) => {
                const value = exchange.headers[hashOn.header.toLowerCase()];
                return Array.isArray(value) ? value[0] : value;
              },
      logger: deps.logger,
      propagateTrace: deps.tracing === true,
    });
    terminal = step;
  }
  return { id: route.id, config: route, layers, terminal, upstreamStep: step, breaker };
}

async function closeRoute(route: GatewayRoute): Promise<void> {
  await Promise.all(route.layers.map((l) => l.close?.()));
  await route.terminal.close?.();
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

function pushError(issues: ConfigIssue[], path: string, error: unknown): void {
  if (error instanceof ConfigError) {
    for (const issue of error.issues)
      issues.push({ path: issue.path ? `${path}.${issue.path}` : path, message: issue.message });
  } else if (isFlotillaError(error)) issues.push({ path, message: error.message });
  else throw error;
}
