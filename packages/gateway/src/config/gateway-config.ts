import { durationSchema } from "@flotilla/registry";
import { z } from "zod";
import { adminServerConfigSchema } from "../admin/admin-server-options.js";
import { apiKeyProviderSchema } from "../auth/api-key-options.js";
import { authenticationRouteSchema } from "../auth/authentication-layer-options.js";
import { authorizationSchema } from "../auth/authorization-layer-options.js";
import { jwtProviderSchema } from "../auth/jwt-provider-options.js";
import { responseCacheOptionsSchema } from "../cache/response-cache-options.js";
import { compositeOptionsSchema } from "../composition/composite-options.js";
import { corsOptionsSchema } from "../cors/cors-options.js";
import { rateLimitLayerConfigSchema } from "../rate-limit/rate-limit-layer-config.js";
import { responseShapingOptionsSchema } from "../transform/response-shaping-layer.js";
import { transformOptionsSchema } from "../transform/transform-options.js";
import { byteSizeSchema } from "./byte-size-schema.js";

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-' only");

/** Balancer and outlier options are validated by `@flotilla/registry` when the upstream is built. */
const passThrough = z.record(z.string(), z.unknown());

const upstreamConfig = z
  .strictObject({
    /** A registry service. */
    service: name.optional(),
    /** Only instances whose version is in this semver range. */
    version: z.string().min(1).optional(),
    /** Or fixed URLs. */
    urls: z
      .array(z.url({ protocol: /^https?$/ }))
      .min(1)
      .optional(),
    balancer: passThrough.optional(),
    outlier: passThrough.optional(),
  })
  .refine((u) => (u.service === undefined) !== (u.urls === undefined), {
    error: "give either service (registry) or urls (static), not both",
  })
  .refine((u) => u.version === undefined || u.service !== undefined, { error: "version needs service" });

const pathMatch = z.union([
  z.strictObject({ exact: z.string().startsWith("/") }),
  z.strictObject({ prefix: z.string().startsWith("/") }),
  z.strictObject({ template: z.string().startsWith("/") }),
]);

const headerMatch = z.strictObject({
  name: z.string().min(1),
  exact: z.string().optional(),
  present: z.boolean().optional(),
  regex: z.string().optional(),
});

const retryOn = z.enum(["connect-failure", "reset", "timeout", "502", "503", "504", "5xx"]);

const retryConfig = z.strictObject({
  /** Attempts in all, the first included. */
  attempts: z.number().int().min(1).max(10).prefault(2),
  on: z.array(retryOn).min(1).prefault(["connect-failure", "reset", "503"]),
  /** Full-jitter exponential backoff between attempts. */
  backoff: z
    .strictObject({ base: durationSchema.prefault("25ms"), max: durationSchema.prefault("250ms") })
    .prefault({}),
  /** Linkerd-style retry budget shared by the route's requests. */
  budget: z
    .strictObject({
      ratio: z.number().min(0).max(1000).prefault(0.2),
      minRetriesPerSecond: z.number().min(0).prefault(10),
    })
    .prefault({}),
});

const splitTarget = z.strictObject({ upstream: name, weight: z.number().min(0) });

/** One route of the gateway. */
export const routeConfig = z.strictObject({
  id: name,
  match: z.strictObject({
    hosts: z.array(z.string().min(1)).min(1).optional(),
    path: pathMatch,
    methods: z
      .array(z.string().regex(/^[A-Z]+$/, "an upper-case HTTP method"))
      .min(1)
      .optional(),
    headers: z.array(headerMatch).optional(),
  }),
  /** Higher first; at equal priority exact > template > prefix (longer first), then order. */
  priority: z.number().int().prefault(0),
  rewrite: z
    .strictObject({
      prefix: z.strictObject({ from: z.string().startsWith("/"), to: z.string().startsWith("/") }).optional(),
      template: z.string().startsWith("/").optional(),
      host: z.string().min(1).optional(),
    })
    .optional(),
  /** An upstream's name, or a weighted split (canary: `[{upstream: "v1", weight: 95}, {upstream: "v2", weight: 5}]`). */
  upstream: z.union([name, z.array(splitTarget).min(1)]).optional(),
  /** Time until the upstream's response headers, across retries. */
  timeout: durationSchema.prefault("15s"),
  perTryTimeout: durationSchema.optional(),
  /** Longest silence while a response body streams (SSE needs heartbeats within it). */
  idleTimeout: durationSchema.prefault("5m"),
  retry: retryConfig.optional(),
  /** `@flotilla/resilience` circuit breaker options; validated when the route is built. */
  breaker: passThrough.optional(),
  bulkhead: z.strictObject({ maxConcurrent: z.number().int().min(1) }).optional(),
  /** Largest request body; default the gateway's `limits.maxBodyBytes`. */
  maxBodyBytes: byteSizeSchema.optional(),
  /** Affinity key for ring-hash / maglev upstreams. */
  hashOn: z.union([z.literal("ip"), z.strictObject({ header: z.string().min(1) })]).optional(),
  // The request chain, in this order: CORS → authentication → authorization → rate limit →
  // cache → transforms → response shaping → upstream (or composite endpoint).
  cors: corsOptionsSchema.optional(),
  /** Credentials accepted: JWT provider names (from `auth.jwt`) and/or `"api-key"`. */
  auth: authenticationRouteSchema.optional(),
  /** Roles and scopes required (RBAC); needs `auth`. */
  authorize: authorizationSchema.optional(),
  rateLimit: rateLimitLayerConfigSchema
    .extend({ backend: z.enum(["memory", "redis"]).prefault("memory") })
    .optional(),
  cache: responseCacheOptionsSchema.optional(),
  transform: transformOptionsSchema.optional(),
  /** BFF response shaping: keep `fields` or drop `omit` of JSON answers. */
  shape: responseShapingOptionsSchema.optional(),
  /** Answer by fanning out to several upstreams in parallel instead of proxying. */
  composite: compositeOptionsSchema.optional(),
});

/** A named route set for one kind of client (BFF): its routes live under its prefix and/or hosts. */
const routeSetConfig = z.strictObject({
  /** Prepended to every route's path (`/mobile`). */
  prefix: z.string().startsWith("/").optional(),
  hosts: z.array(z.string().min(1)).min(1).optional(),
  /** Shaping applied to every route of the set that has none of its own. */
  shape: responseShapingOptionsSchema.optional(),
  routes: z.array(routeConfig).min(1),
});

/** The gateway's configuration (zod 4); durations come out in milliseconds, sizes in bytes. */
export const gatewayConfig = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).prefault("127.0.0.1"),
      port: z.number().int().min(0).max(65_535).prefault(8080),
    })
    .prefault({}),
  tls: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.number().int().min(0).max(65_535).prefault(8443),
      /** PEM files; re-read when they change (certificate rotation without a restart). */
      certFile: z.string().min(1),
      keyFile: z.string().min(1),
      /** Offer HTTP/2 by ALPN (HTTP/1.1 stays available). */
      http2: z.boolean().prefault(true),
    })
    .optional(),
  /** The admin API on its own port, behind a bearer token. */
  admin: adminServerConfigSchema.optional(),
  /** Registry servers for `service` upstreams. */
  registry: z.strictObject({ urls: z.array(z.url()).min(1) }).optional(),
  limits: z
    .strictObject({
      maxHeaderBytes: byteSizeSchema.prefault(16_384),
      maxBodyBytes: byteSizeSchema.prefault("10mb"),
      /** Time for the client to send all request headers (slowloris). */
      headersTimeout: durationSchema.prefault("10s"),
      /** Time for the client to send the whole request. */
      requestTimeout: durationSchema.prefault("60s"),
      /** Idle keep-alive connections are closed after this. */
      keepAliveTimeout: durationSchema.prefault("65s"),
      /** Largest response body a layer (cache, transform) may read whole. */
      maxBufferedResponseBytes: byteSizeSchema.prefault("8mb"),
    })
    .prefault({}),
  accessLog: z.boolean().prefault(true),
  /** Credential providers the routes' `auth.methods` name. */
  auth: z
    .strictObject({
      jwt: z.record(name, jwtProviderSchema).prefault({}),
      apiKeys: apiKeyProviderSchema.optional(),
    })
    .prefault({}),
  /** Redis shared by gateway instances: distributed rate limits and the shared response cache. */
  redis: z
    .strictObject({
      url: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL"),
      prefix: z.string().prefault("flotilla:gateway:"),
      /** The longest a rate-limit decision or cache lookup waits for Redis before degrading (fail open/closed, miss). */
      timeout: durationSchema.prefault("50ms"),
    })
    .optional(),
  /** The in-memory response cache's bounds. */
  responseCache: z
    .strictObject({
      maxEntries: z.number().int().min(1).prefault(10_000),
      maxBytes: byteSizeSchema.prefault("64mb"),
    })
    .prefault({}),
  upstreams: z.record(name, upstreamConfig).prefault({}),
  routes: z.array(routeConfig).prefault([]),
  /** One merged OpenAPI document of the public routes, from the upstreams' own documents. */
  openapi: z
    .strictObject({
      path: z.string().startsWith("/").prefault("/openapi.json"),
      title: z.string().min(1).prefault("API"),
      version: z.string().min(1).prefault("1.0.0"),
      /** How long a merged document is served before the upstreams are asked again. */
      refresh: durationSchema.prefault("30s"),
      timeout: durationSchema.prefault("2s"),
      sources: z
        .array(
          z.strictObject({
            upstream: name,
            documentPath: z.string().startsWith("/").prefault("/openapi.json"),
            /** The public path prefix of the upstream's routes on the gateway. */
            prefix: z.string().prefault("/"),
            /** The part of the upstream's paths the public paths do not show. */
            stripPrefix: z.string().startsWith("/").optional(),
          }),
        )
        .min(1),
    })
    .optional(),
  /** Backends for frontends: named route sets (`web`, `mobile`), each on its own prefix or hosts. */
  routeSets: z.record(name, routeSetConfig).prefault({}),
});

/** A configuration as written (durations as strings allowed). */
export type GatewayConfigInput = z.input<typeof gatewayConfig>;
/** A configuration after validation. */
export type GatewayConfig = z.output<typeof gatewayConfig>;
/** One route after validation. */
export type RouteConfig = z.output<typeof routeConfig>;
