import { GatewayError, GatewayErrorCode, isGatewayError } from "../chain/gateway-error.js";

/**
 * Why credentials were refused, in words safe to show a client: they name the class of problem,
 * never a key, a claim value or an internal error.
 */
export const AuthFailure = {
  /** No credentials of a method the route accepts. */
  Missing: "missing credentials",
  /** Not a JWT, or an `Authorization` header that is not `Bearer <token>`. */
  Malformed: "malformed",
  Expired: "expired",
  /** A JWT without `exp` where the provider requires one (`requireExpiration`). */
  NoExpiration: "no expiration",
  NotYetValid: "not yet valid",
  WrongAudience: "wrong audience",
  WrongIssuer: "wrong issuer",
  BadSignature: "bad signature",
  /** No key of the key set matches the token's `kid` and `alg`. */
  UnknownKey: "unknown key",
  AlgorithmNotAllowed: "algorithm not allowed",
  /** The JWKS endpoint could not be read and no earlier copy of the key set is at hand. */
  KeySetUnavailable: "key set unavailable",
  /** An API key that matches no configured key. */
  InvalidApiKey: "invalid api key",
} as const;

/** One of {@link AuthFailure}'s values. */
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

/** Refused credentials: code `FLT_GATEWAY_UNAUTHORIZED`, message and `reason` one of {@link AuthFailure}. */
export class AuthenticationError extends GatewayError {
  /** Why, in words safe to show a client. */
  readonly reason: AuthFailure;

  constructor(reason: AuthFailure, options?: { cause?: unknown }) {
    super(GatewayErrorCode.Unauthorized, reason, options);
    this.reason = reason;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isAuthenticationError(value);
  }
}

/** True for an {@link AuthenticationError}, from any copy of the package. */
export function isAuthenticationError(value: unknown): value is AuthenticationError {
  return (
    isGatewayError(value) &&
    value.code === GatewayErrorCode.Unauthorized &&
    typeof (value as { reason?: unknown }).reason === "string"
  );
}
