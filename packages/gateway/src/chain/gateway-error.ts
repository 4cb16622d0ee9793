import { FlotillaError } from "@flotilla/resilience";

/** Stable codes of the problems the gateway answers with. */
export const GatewayErrorCode = {
  /** No route matches the request (404). */
  RouteNotFound: "FLT_GATEWAY_ROUTE_NOT_FOUND",
  /** A route matches the path but not the method (405). */
  MethodNotAllowed: "FLT_GATEWAY_METHOD_NOT_ALLOWED",
  /** A malformed request: bad path encoding, traversal, invalid header (400). */
  BadRequest: "FLT_GATEWAY_BAD_REQUEST",
  /** Headers over the limit (431). */
  HeadersTooLarge: "FLT_GATEWAY_HEADERS_TOO_LARGE",
  /** A body over the route's limit (413). */
  BodyTooLarge: "FLT_GATEWAY_BODY_TOO_LARGE",
  /** The client was too slow sending its request (408). */
  RequestTimeout: "FLT_GATEWAY_REQUEST_TIMEOUT",
  /** No or invalid credentials (401). */
  Unauthorized: "FLT_GATEWAY_UNAUTHORIZED",
  /** Valid credentials without the role or scope the route requires (403). */
  Forbidden: "FLT_GATEWAY_FORBIDDEN",
  /** A CORS preflight or request from an origin or with a method the route does not allow (403). */
  CorsRejected: "FLT_GATEWAY_CORS_REJECTED",
  /** Over a rate limit (429). */
  RateLimited: "FLT_GATEWAY_RATE_LIMITED",
  /** The upstream failed or answered garbage (502). */
  BadGateway: "FLT_GATEWAY_BAD_GATEWAY",
  /** No healthy upstream instance, breaker open or bulkhead full (503). */
  Unavailable: "FLT_GATEWAY_UNAVAILABLE",
  /** The upstream did not answer within the route's timeout (504). */
  GatewayTimeout: "FLT_GATEWAY_TIMEOUT",
  /** A bug in the gateway (500). */
  Internal: "FLT_GATEWAY_INTERNAL",
  /** The gateway configuration is invalid; names the path and the reason. */
  ConfigInvalid: "FLT_GATEWAY_CONFIG_INVALID",
  /** The admin API was called without the admin token (401). */
  AdminUnauthorized: "FLT_GATEWAY_ADMIN_UNAUTHORIZED",
} as const;

/** One of {@link GatewayErrorCode}'s values. */
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

const kGatewayError = Symbol.for("flotilla.gateway.error");

/** An error of the gateway with a stable code; guards check the marker, so they work across copies. */
export class GatewayError extends FlotillaError {
  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    Object.defineProperty(this, kGatewayError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isGatewayError(value);
  }
}

/** True for any {@link GatewayError}, from any copy of the package. */
export function isGatewayError(value: unknown): value is GatewayError {
  return (
    typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kGatewayError] === true
  );
}
