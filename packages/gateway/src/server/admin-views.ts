import type { BreakerView, RateLimitView, RouteView, UpstreamView } from "../admin/admin-source.js";
import { RateLimitLayer } from "../rate-limit/rate-limit-layer.js";
import type { GatewayRoute, GatewaySnapshot } from "./gateway-snapshot.js";

/** The routes of a snapshot as the admin API lists them. */
export function routeViews(snapshot: GatewaySnapshot): RouteView[] {
  return snapshot.routes.map((route) => ({
    id: route.id,
    hosts: route.config.match.hosts ?? [],
    path: describePath(route.config.match.path),
    methods: route.config.match.methods ?? [],
    upstream: describeUpstream(route),
    policies: policies(route),
  }));
}

/** The upstreams of a snapshot with their instances, ejection state included. */
export function upstreamViews(snapshot: GatewaySnapshot): UpstreamView[] {
  return [...snapshot.upstreams.values()].map((u) => ({
    name: u.name,
    kind: u.source.kind,
    instances: u.instances().map((instance) => {
      const ejected = u.isEjected(instance);
      return { address: u.origin(instance), healthy: !ejected, ejected, inFlight: u.inFlight(instance) };
    }),
  }));
}

/** Every route's circuit breaker and its state. */
export function breakerViews(snapshot: GatewaySnapshot): BreakerView[] {
  return snapshot.routes.flatMap((route) =>
    route.breaker === undefined ? [] : [{ routeId: route.id, ...route.breaker.snapshot() }],
  );
}

function describePath(path: { exact: string } | { prefix: string } | { template: string }): string {
  if ("exact" in path) return path.exact;
  if ("prefix" in path) return `${path.prefix}/**`;
  return path.template;
}

function describeUpstream(route: GatewayRoute): string {
  const upstream = route.config.upstream;
  if (upstream === undefined) return route.terminal.name;
  if (typeof upstream === "string") return upstream;
  return upstream.map((t) => `${t.upstream}:${t.weight}`).join(",");
}

function policies(route: GatewayRoute): string[] {
  const c = route.config;
  const out = route.layers.map((l) => l.name);
  if (route.upstreamStep !== undefined) {
    out.push(`timeout ${c.timeout}ms`);
    if (c.perTryTimeout !== undefined) out.push(`per-try timeout ${c.perTryTimeout}ms`);
    if (c.retry !== undefined) out.push(`retry ${c.retry.attempts} attempts on ${c.retry.on.join("/")}`);
    if (c.breaker !== undefined) out.push("circuit breaker");
    if (c.bulkhead !== undefined) out.push(`bulkhead ${c.bulkhead.maxConcurrent}`);
  }
  return out;
}

/** Rate-limit counters of every route that limits, with its policies as `RateLimit-Policy` states them. */
export function rateLimitViews(snapshot: GatewaySnapshot): RateLimitView[] {
  return snapshot.routes.flatMap((route) =>
    route.layers.flatMap((layer) =>
      layer instanceof RateLimitLayer ? [{ route: route.id, policy: layer.policy, ...layer.stats() }] : [],
    ),
  );
}
