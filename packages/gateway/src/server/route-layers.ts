import type { ConfigIssue } from "@flotilla/resilience";
import type { Agent } from "undici";
import { authenticationLayer } from "../auth/authentication-layer.js";
import { apiKeyMethod } from "../auth/authentication-layer-options.js";
import { authorizationLayer } from "../auth/authorization-layer.js";
import { responseCacheLayer } from "../cache/response-cache-layer.js";
import type { Layer } from "../chain/layer.js";
import { compositeEndpoint } from "../composition/composite-endpoint.js";
import type { RouteConfig } from "../config/gateway-config.js";
import { corsLayer } from "../cors/cors-layer.js";
import { pooledUpstreamCaller } from "../proxy/pooled-upstream-caller.js";
import type { Upstream } from "../proxy/upstream.js";
import { rateLimitLayer } from "../rate-limit/rate-limit-layer.js";
import { responseShapingLayer } from "../transform/response-shaping-layer.js";
import { transformLayer } from "../transform/transform-layer.js";
import type { ChainResources } from "./chain-resources.js";

/** The order of the request chain, for docs and the admin API. */
export const chainOrder = [
  "cors",
  "authentication",
  "authorization",
  "rate-limit",
  "cache",
  "transform",
  "response-shaping",
  "upstream | composite",
] as const;

/**
 * Builds the layers a route configures, in chain order: CORS → authentication → authorization
 * → rate limit → cache → transforms → response shaping. A route without any of them has an empty
 * chain and costs nothing per request for them. Problems are added to `issues` with their path.
 */
export function routeLayers(
  route: RouteConfig,
  res: ChainResources,
  issues: ConfigIssue[],
  path: string,
): Layer[] {
  const layers: Layer[] = [];
  if (route.cors !== undefined) layers.push(corsLayer(route.cors));
  if (route.auth !== undefined) {
    for (const method of route.auth.methods) {
      if (method === apiKeyMethod ? res.apiKeys === undefined : !res.jwt.has(method)) {
        issues.push({
          path: `${path}.auth.methods`,
          message:
            method === apiKeyMethod
              ? "api-key needs `auth.apiKeys` at the top level"
              : `no JWT provider named "${method}" in auth.jwt (known: ${[...res.jwt.keys()].join(", ") || "none"})`,
        });
      }
    }
    layers.push(
      authenticationLayer({
        ...route.auth,
        jwtProviders: Object.fromEntries(res.jwt),
        ...(res.apiKeys === undefined ? {} : { apiKeys: res.apiKeys }),
        logger: res.logger,
      }),
    );
  }
  if (route.authorize !== undefined) {
    if (route.auth === undefined)
      issues.push({ path: `${path}.authorize`, message: "authorize needs auth on the route" });
    layers.push(authorizationLayer({ ...route.authorize, logger: res.logger }));
  }
  if (route.rateLimit !== undefined) {
    const { backend: kind, ...config } = route.rateLimit;
    const backend = kind === "redis" ? res.redisRateLimit : res.memoryRateLimit;
    if (backend === undefined) {
      issues.push({ path: `${path}.rateLimit.backend`, message: "redis needs `redis.url` at the top level" });
    } else layers.push(rateLimitLayer({ ...config, backend, logger: res.logger }));
  }
  if (route.cache !== undefined) {
    const store = route.cache.store === "redis" ? res.redisCache : res.memoryCache;
    if (store === undefined) {
      issues.push({ path: `${path}.cache.store`, message: "redis needs `redis.url` at the top level" });
    } else layers.push(responseCacheLayer(route.cache, { store, logger: res.logger }));
  }
  if (route.transform !== undefined) layers.push(transformLayer(route.transform));
  if (route.shape !== undefined) layers.push(responseShapingLayer(route.shape));
  return layers;
}

/** The composite endpoint of a route that has one, checking its parts' upstreams exist. */
export function routeComposite(
  route: RouteConfig,
  upstreams: ReadonlyMap<string, Upstream>,
  agent: Agent,
  res: ChainResources,
  issues: ConfigIssue[],
  path: string,
): Layer | undefined {
  if (route.composite === undefined) return undefined;
  if (route.upstream !== undefined) {
    issues.push({
      path: `${path}.composite`,
      message: "a route has either an upstream or a composite, not both",
    });
  }
  route.composite.parts.forEach((part, i) => {
    if (!upstreams.has(part.upstream)) {
      issues.push({
        path: `${path}.composite.parts.${i}.upstream`,
        message: `no upstream named "${part.upstream}"`,
      });
    }
  });
  const endpoint = compositeEndpoint(route.composite, pooledUpstreamCaller(upstreams, agent), {
    logger: res.logger,
  });
  const template = "template" in route.match.path ? route.match.path.template : "";
  const known = new Set(
    template
      .split("/")
      .filter((segment) => segment.startsWith(":") || segment === "*")
      .map((segment) => (segment === "*" ? "*" : segment.slice(1))),
  );
  for (const param of endpoint.routeParams) {
    if (!known.has(param)) {
      issues.push({
        path: `${path}.composite.parts`,
        message: `{${param}} is not a parameter of the route's path (${template === "" ? "not a template" : template})`,
      });
    }
  }
  return endpoint;
}
