import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
} from "jose";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import { silentLogger } from "../chain/gateway-logger.js";
import type { Identity } from "../chain/identity.js";
import { AuthenticationError, AuthFailure, isAuthenticationError } from "./authentication-error.js";
import { type ClaimReader, claimPath, claimStrings } from "./claim-path.js";
import { type JwtProviderInput, type JwtProviderOptions, jwtProviderSchema } from "./jwt-provider-options.js";
import { parseAuthOptions } from "./parse-auth-options.js";
import {
  type KeyResolver,
  type RemoteKeySet,
  type RemoteKeySetSnapshot,
  remoteKeySet,
} from "./remote-key-set.js";
import { VerifiedTokenCache } from "./token-cache.js";
import { systemWallClock, type WallClock } from "./wall-clock.js";

/** What a {@link JwtAuthenticator} needs besides its options. */
export interface JwtAuthenticatorDeps {
  /** Wall clock for `exp`/`nbf` and the token cache. Default `systemWallClock`. */
  readonly clock?: WallClock;
  /** Warned about verification errors that are not the token's fault. Default silent. */
  readonly logger?: GatewayLogger;
}

/** Counters of a {@link JwtAuthenticator}, for metrics. */
export interface JwtAuthenticatorSnapshot {
  /** Verifications answered from the token cache. */
  readonly cacheHits: number;
  /** Verifications that ran jose's `jwtVerify`. */
  readonly verifications: number;
  /** Tokens in the cache. */
  readonly cacheSize: number;
  /** JWKS fetches and failed fetches; `undefined` with static keys. */
  readonly jwks: RemoteKeySetSnapshot | undefined;
}

/**
 * Verifies JWTs of one issuer with jose ({@link JwtAuthenticator}).
 *
 * @example
 * ```ts
 * const auth = jwtAuthenticator({
 *   issuer: "https://idp.example.com/",
 *   audience: "orders-api",
 *   jwksUrl: "https://idp.example.com/.well-known/jwks.json",
 *   rolesClaim: "realm_access.roles",
 * });
 * const identity = await auth.verify(token); // throws AuthenticationError
 * ```
 */
export function jwtAuthenticator(
  options: JwtProviderInput,
  deps: JwtAuthenticatorDeps = {},
): JwtAuthenticator {
  return new JwtAuthenticator(options, deps);
}

// https://github.com/panva/jose/blob/main/docs/util/errors/README.md
function failureOf(error: unknown): AuthFailure | undefined {
  if (isAuthenticationError(error)) return error.reason;
  switch ((error as { code?: unknown } | null)?.code) {
    case "ERR_JWT_EXPIRED":
      return AuthFailure.Expired;
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      switch ((error as { claim?: unknown }).claim) {
        case "nbf":
          return AuthFailure.NotYetValid;
        case "aud":
          return AuthFailure.WrongAudience;
        case "iss":
          return AuthFailure.WrongIssuer;
        case "exp":
          return AuthFailure.NoExpiration;
        default:
          return AuthFailure.Malformed;
      }
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return AuthFailure.BadSignature;
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return AuthFailure.UnknownKey;
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return AuthFailure.AlgorithmNotAllowed;
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
    case "ERR_JWT_CLAIM_INVALID":
      return AuthFailure.Malformed;
    default:
      return undefined;
  }
}

const whitespace = /\s+/;

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Verifies JWTs of one provider: signature against the provider's keys (a JWKS endpoint or static
 * public keys), an allowed `alg`, `iss`, `aud`, `exp` and `nbf` with clock skew, then maps the
 * claims to an {@link Identity}.
 *
 * Verified tokens are kept in a bounded LRU cache keyed by the token string (Envoy's
 * `jwt_cache_config`): a repeated token costs one map look-up and a time comparison, no
 * signature check. A cached entry is refused once `exp` passes (rechecked on every hit with the
 * clock and skew, like `nbf`), and, with a JWKS endpoint, after `jwksCacheMaxAge`, so a key
 * removed from the key set stops authenticating its tokens within that time.
 */
export class JwtAuthenticator {
  /** The options after validation and defaults. */
  readonly options: JwtProviderOptions;
  readonly #issuers: ReadonlySet<string>;
  readonly #clock: WallClock;
  readonly #logger: GatewayLogger;
  readonly #key: KeyResolver;
  readonly #remote: RemoteKeySet | undefined;
  readonly #verifyOptions: JWTVerifyOptions;
  readonly #cache: VerifiedTokenCache | undefined;
  readonly #cacheLifetimeMs: number;
  readonly #readRoles: ClaimReader;
  readonly #readScopes: ClaimReader;
  readonly #readConsumer: ClaimReader;
  #cacheHits = 0;
  #verifications = 0;

  constructor(options: JwtProviderInput, deps: JwtAuthenticatorDeps = {}) {
    const resolved = parseAuthOptions(jwtProviderSchema, options, "jwt");
    this.options = resolved;
    this.#issuers = new Set(resolved.issuer);
    this.#clock = deps.clock ?? systemWallClock;
    this.#logger = deps.logger ?? silentLogger;
    if (resolved.jwksUrl !== undefined) {
      this.#remote = remoteKeySet(new URL(resolved.jwksUrl), {
        timeoutMs: resolved.jwksTimeout,
        cooldownMs: resolved.jwksCooldown,
        cacheMaxAgeMs: resolved.jwksCacheMaxAge,
        clock: this.#clock,
      });
      this.#key = this.#remote.resolve;
      this.#cacheLifetimeMs = resolved.jwksCacheMaxAge;
    } else {
      this.#remote = undefined;
      this.#key = createLocalJWKSet({ keys: resolved.keys ?? [] } as unknown as JSONWebKeySet);
      this.#cacheLifetimeMs = Number.POSITIVE_INFINITY;
    }
    this.#verifyOptions = {
      issuer: [...resolved.issuer],
      audience: [...resolved.audience],
      algorithms: [...resolved.algorithms],
      clockTolerance: resolved.clockSkew / 1000,
      ...(resolved.requireExpiration ? { requiredClaims: ["exp"] } : {}),
    };
    this.#cache =
      resolved.tokenCacheSize > 0
        ? new VerifiedTokenCache(resolved.tokenCacheSize, resolved.clockSkew)
        : undefined;
    this.#readRoles = claimPath(resolved.rolesClaim);
    this.#readScopes = claimPath(resolved.scopesClaim);
    this.#readConsumer = claimPath(resolved.consumerClaim);
  }

  /** True when `iss` is one of this provider's issuers (to pick a provider before verifying). */
  acceptsIssuer(iss: string): boolean {
    return this.#issuers.has(iss);
  }

  /**
   * The identity of a token verified before and still valid, or `undefined`: synchronous, so
   * the common case needs no promise. A `undefined` says nothing about the token; call {@link verify}.
   */
  cached(token: string): Identity | undefined {
    if (this.#cache === undefined) return undefined;
    const identity = this.#cache.get(token, this.#clock.now());
    if (identity !== undefined) this.#cacheHits++;
    return identity;
  }

  /**
   * Verifies `token` (the compact JWT, without `Bearer `) and returns who it identifies.
   * Rejects with an {@link AuthenticationError} whose `reason` is safe to show the client.
   */
  async verify(token: string): Promise<Identity> {
    return this.cached(token) ?? this.#verify(token);
  }

  /** Counters for metrics. */
  snapshot(): JwtAuthenticatorSnapshot {
    return {
      cacheHits: this.#cacheHits,
      verifications: this.#verifications,
      cacheSize: this.#cache?.size ?? 0,
      jwks: this.#remote?.snapshot(),
    };
  }

  async #verify(token: string): Promise<Identity> {
    this.#verifications++;
    const now = this.#clock.now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        ...this.#verifyOptions,
        currentDate: new Date(now),
      }));
    } catch (error) {
      const reason = failureOf(error);
      if (reason === undefined) {
        this.#logger.warn({ err: error }, "unexpected error while verifying a JWT");
        throw new AuthenticationError(AuthFailure.Malformed, { cause: error });
      }
      throw isAuthenticationError(error) ? error : new AuthenticationError(reason, { cause: error });
    }
    const identity = this.#identity(payload);
    this.#cache?.set(token, {
      identity,
      exp: typeof payload.exp === "number" ? payload.exp : undefined,
      nbf: typeof payload.nbf === "number" ? payload.nbf : undefined,
      until: now + this.#cacheLifetimeMs,
    });
    return identity;
  }

  #identity(payload: JWTPayload): Identity {
    const claims = Object.freeze(payload) as Readonly<Record<string, unknown>>;
    const sub = nonEmptyString(claims.sub);
    const consumer = nonEmptyString(this.#readConsumer(claims)) ?? nonEmptyString(claims.client_id) ?? sub;
    if (consumer === undefined) throw new AuthenticationError(AuthFailure.Malformed);
    const scopeClaim = this.#readScopes(claims);
    return Object.freeze({
      subject: sub ?? consumer,
      consumer,
      roles: Object.freeze(claimStrings(this.#readRoles(claims), undefined)),
      scopes: Object.freeze(claimStrings(scopeClaim === undefined ? claims.scp : scopeClaim, whitespace)),
      method: "jwt",
      claims,
    });
  }
}
