export { AdminServer, adminServer } from "./admin/admin-server.js";
export {
  type AdminServerConfig,
  type AdminServerOptions,
  adminServerConfigSchema,
  minAdminTokenLength,
  parseAdminServerOptions,
  prometheusContentType,
  type ResolvedAdminServerOptions,
} from "./admin/admin-server-options.js";
export type {
  AdminSource,
  BreakerView,
  ConfigVersionView,
  RateLimitView,
  ReloadIssue,
  ReloadOutcome,
  RouteView,
  UpstreamInstanceView,
  UpstreamView,
} from "./admin/admin-source.js";
export { ApiKeyAuthenticator, apiKeyAuthenticator } from "./auth/api-key-authenticator.js";
export {
  type ApiKeyProviderInput,
  type ApiKeyProviderOptions,
  apiKeyEntrySchema,
  apiKeyProviderSchema,
} from "./auth/api-key-options.js";
export { AuthenticationError, AuthFailure, isAuthenticationError } from "./auth/authentication-error.js";
export {
  AuthenticationLayer,
  type AuthenticationLayerOptions,
  authenticationLayer,
} from "./auth/authentication-layer.js";
export {
  type AuthenticationRouteInput,
  type AuthenticationRouteOptions,
  apiKeyMethod,
  authenticationRouteSchema,
} from "./auth/authentication-layer-options.js";
export {
  AuthorizationLayer,
  type AuthorizationLayerOptions,
  authorizationLayer,
} from "./auth/authorization-layer.js";
export {
  type AuthorizationInput,
  type AuthorizationOptions,
  authorizationSchema,
} from "./auth/authorization-layer-options.js";
export { hashApiKey } from "./auth/hash-api-key.js";
export { IdentityHeader, setIdentityHeaders } from "./auth/identity-headers.js";
export {
  JwtAuthenticator,
  type JwtAuthenticatorDeps,
  type JwtAuthenticatorSnapshot,
  jwtAuthenticator,
} from "./auth/jwt-authenticator.js";
export {
  type JwtAlgorithm,
  type JwtProviderInput,
  type JwtProviderOptions,
  jwtAlgorithms,
  jwtProviderSchema,
} from "./auth/jwt-provider-options.js";
export { systemWallClock, type WallClock } from "./auth/wall-clock.js";
export { type CacheClock, wallClock } from "./cache/cache-clock.js";
export type { CachedResponse, CacheEntry, VarySpec } from "./cache/cache-entry.js";
export type { CacheStore } from "./cache/cache-store.js";
export {
  MemoryCacheStore,
  type MemoryCacheStoreOptions,
  memoryCacheStore,
} from "./cache/memory-cache-store.js";
export {
  type RedisCacheClient,
  RedisCacheStore,
  type RedisCacheStoreOptions,
  redisCacheStore,
} from "./cache/redis-cache-store.js";
export {
  ResponseCacheLayer,
  type ResponseCacheRuntime,
  responseCacheLayer,
} from "./cache/response-cache-layer.js";
export {
  type ResponseCacheOptions,
  type ResponseCacheOptionsInput,
  responseCacheOptionsSchema,
} from "./cache/response-cache-options.js";
export type { Exchange } from "./chain/exchange.js";
export { GatewayError, GatewayErrorCode, isGatewayError } from "./chain/gateway-error.js";
export { type GatewayLogger, silentLogger } from "./chain/gateway-logger.js";
export { bufferedResponse, type GatewayResponse, type ResponseHeaders } from "./chain/gateway-response.js";
export type { Identity } from "./chain/identity.js";
export type { Layer, Next } from "./chain/layer.js";
export { problemResponse, problemType } from "./chain/problem-response.js";
export { runChain } from "./chain/run-chain.js";
export type { UpstreamCaller, UpstreamReply, UpstreamRequest } from "./chain/upstream-caller.js";
export {
  CompositeEndpoint,
  type CompositeEndpointDeps,
  compositeEndpoint,
  type PartError,
} from "./composition/composite-endpoint.js";
export {
  type CompositeConfig,
  type CompositeOptions,
  type CompositePartConfig,
  compositeOptionsSchema,
  compositePartSchema,
} from "./composition/composite-options.js";
export { byteSizeSchema } from "./config/byte-size-schema.js";
export {
  type GatewayConfig,
  type GatewayConfigInput,
  gatewayConfig,
  type RouteConfig,
  routeConfig,
} from "./config/gateway-config.js";
export { loadGatewayConfig, parseGatewayConfig } from "./config/parse-gateway-config.js";
export { CorsLayer, corsLayer } from "./cors/cors-layer.js";
export { type CorsConfig, type CorsOptions, corsOptionsSchema } from "./cors/cors-options.js";
export {
  type MergedOpenApiDocument,
  mergeOpenApi,
  type OpenApiMergeConflict,
  type OpenApiMergeInfo,
  type OpenApiMergeInput,
  type OpenApiMergeOptions,
} from "./openapi/merge-openapi.js";
export type { OpenApiDocument } from "./openapi/openapi-document.js";
export {
  type OpenApiEndpointOptions,
  type OpenApiSource,
  openApiEndpoint,
} from "./openapi/openapi-endpoint.js";
export { type ExposedAs, publicPath } from "./openapi/public-path.js";
export { Upstream, type UpstreamOptions, type UpstreamSource, upstream } from "./proxy/upstream.js";
export {
  type RetryOn,
  type RouteRetry,
  UpstreamStep,
  type UpstreamStepOptions,
  upstreamStep,
  type WeightedUpstream,
} from "./proxy/upstream-step.js";
export {
  MemoryRateLimitBackend,
  type MemoryRateLimitBackendOptions,
  memoryRateLimitBackend,
  memoryRateLimitBackendConfigSchema,
} from "./rate-limit/memory-rate-limit-backend.js";
export type { RateLimitBackend, RateLimitDecision } from "./rate-limit/rate-limit-backend.js";
export { policyNamePattern, rateLimitHeaderNames } from "./rate-limit/rate-limit-headers.js";
export {
  RateLimitLayer,
  type RateLimitLayerOptions,
  type RateLimitStats,
  rateLimitLayer,
} from "./rate-limit/rate-limit-layer.js";
export {
  type RateLimitLayerConfig,
  type RateLimitLayerConfigInput,
  type RateLimitPolicyConfig,
  rateLimitLayerConfigSchema,
  rateLimitPolicySchema,
} from "./rate-limit/rate-limit-layer-config.js";
export {
  type RateLimitRule,
  type RateLimitRuleConfig,
  rateLimitRule,
  rateLimitRuleSchema,
} from "./rate-limit/rate-limit-rule.js";
export {
  type RateLimitRedisClient,
  RedisRateLimitBackend,
  type RedisRateLimitBackendOptions,
  redisRateLimitBackend,
  redisRateLimitBackendConfigSchema,
} from "./rate-limit/redis-rate-limit-backend.js";
export { type TokenBucketResult, tokenBucketDecide } from "./rate-limit/token-bucket.js";
export { isValidHeaderValue, isValidToken } from "./router/header-safety.js";
export {
  defaultNormalizePathOptions,
  type NormalizedTarget,
  type NormalizePathOptions,
  normalizePath,
  normalizePathOptionsSchema,
  type PathRejection,
} from "./router/normalize-path.js";
export {
  type RewriteContext,
  type RewriteOptions,
  rewriteOptionsSchema,
  rewriteTarget,
  type TargetRewriter,
} from "./router/rewrite.js";
export {
  type HeaderMatchSpec,
  type PathMatchSpec,
  type RequestHeaders,
  type RouteMatch,
  type RouteMatchSpec,
  routeMatchSchema,
} from "./router/route-match-spec.js";
export { compileRouter, type Router } from "./router/router.js";
export { type CompileDependencies, compileGateway } from "./server/compile-gateway.js";
export { type Gateway, type GatewayOptions, startGateway } from "./server/gateway.js";
export type { GatewayRoute, GatewaySnapshot } from "./server/gateway-snapshot.js";
export {
  type ResponseShapingConfig,
  ResponseShapingLayer,
  type ResponseShapingOptions,
  responseShapingLayer,
  responseShapingOptionsSchema,
} from "./transform/response-shaping-layer.js";
export { TransformLayer, transformLayer } from "./transform/transform-layer.js";
export {
  type TransformConfig,
  type TransformOptions,
  transformOptionsSchema,
} from "./transform/transform-options.js";
