import { decodeJwt } from "jose";
import type { Exchange } from "../chain/exchange.js";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import type { GatewayResponse, ResponseHeaders } from "../chain/gateway-response.js";
import type { Identity } from "../chain/identity.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import type { ApiKeyAuthenticator } from "./api-key-authenticator.js";
import { AuthenticationError, AuthFailure, isAuthenticationError } from "./authentication-error.js";
import {
  type AuthenticationRouteInput,
  apiKeyMethod,
  authenticationRouteSchema,
} from "./authentication-layer-options.js";
import { bearerChallenge } from "./bearer-challenge.js";
import { setIdentityHeaders } from "./identity-headers.js";
import type { JwtAuthenticator } from "./jwt-authenticator.js";
import { parseAuthOptions } from "./parse-auth-options.js";

/** A route's authentication options plus the authenticators it may use, built once per gateway. */
export interface AuthenticationLayerOptions extends AuthenticationRouteInput {
  /** JWT providers by name; a route's `methods` names the ones it accepts. */
  readonly jwtProviders?: Readonly<Record<string, JwtAuthenticator>>;
  /** The API key authenticator, required when `methods` holds `"api-key"`. */
  readonly apiKeys?: ApiKeyAuthenticator;
  /** Failures are logged at info (route, reason, client address; never a credential). */
  readonly logger?: GatewayLogger;
}

interface Refusal {
  readonly reason: string;
  readonly detail: string;
  readonly headers: ResponseHeaders;
}

/** Why a credential was refused, beyond the JWT reasons: the header itself was unusable. */
const malformedHeader = "malformed authorization header";

// RFC 6750 section 2.1: "Bearer" 1*SP b64token (token68).
const bearerCredentials = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Authenticates requests ({@link AuthenticationLayer}).
 *
 * @example
 * ```ts
 * const layer = authenticationLayer({
 *   methods: ["keycloak", "api-key"],
 *   jwtProviders: { keycloak: jwtAuthenticator({ ... }) },
 *   apiKeys: apiKeyAuthenticator({ keys: [...] }),
 *   logger,
 * });
 * ```
 */
export function authenticationLayer(options: AuthenticationLayerOptions): AuthenticationLayer {
  return new AuthenticationLayer(options);
}

/**
 * The `authentication` layer: verifies a `Authorization: Bearer` JWT with the route's JWT
 * providers, or an API key header, sets `exchange.identity` and the `x-flotilla-*` identity
 * headers for the upstream, and answers 401 (RFC 9457 problem with an RFC 6750 `WWW-Authenticate`
 * challenge) otherwise. A bearer token takes precedence over an API key when both are sent and
 * both methods are accepted. A token verified before is answered from the provider's cache
 * without a promise. With `optional`, requests without credentials pass anonymously.
 */
export class AuthenticationLayer implements Layer {
  readonly name = "authentication";
  readonly #jwt: readonly JwtAuthenticator[];
  readonly #apiKeys: ApiKeyAuthenticator | undefined;
  readonly #optional: boolean;
  readonly #hideCredentials: boolean;
  readonly #logger: GatewayLogger;
  readonly #refusals: ReadonlyMap<string, Refusal>;
  #lastAuthorization: string | undefined;
  #lastToken: string | null | undefined;

  constructor(options: AuthenticationLayerOptions) {
    const route = parseAuthOptions(
      authenticationRouteSchema,
      {
        methods: options.methods,
        optional: options.optional,
        hideCredentials: options.hideCredentials,
        realm: options.realm,
      },
      "authentication",
    );
    const jwt: JwtAuthenticator[] = [];
    let apiKeys: ApiKeyAuthenticator | undefined;
    for (const method of route.methods) {
      if (method === apiKeyMethod) {
        if (options.apiKeys === undefined) {
          throw new GatewayError(
            GatewayErrorCode.ConfigInvalid,
            'authentication.methods: "api-key" needs API keys',
          );
        }
        apiKeys = options.apiKeys;
        continue;
      }
      const provider = options.jwtProviders?.[method];
      if (provider === undefined || !Object.hasOwn(options.jwtProviders ?? {}, method)) {
        throw new GatewayError(
          GatewayErrorCode.ConfigInvalid,
          `authentication.methods: no JWT provider "${method}"`,
        );
      }
      if (!jwt.includes(provider)) jwt.push(provider);
    }
    this.#jwt = jwt;
    this.#apiKeys = apiKeys;
    this.#optional = route.optional;
    this.#hideCredentials = route.hideCredentials;
    this.#logger = options.logger ?? silentLogger;
    this.#refusals = refusals(route.realm, jwt.length > 0, apiKeys !== undefined);
  }

  /**
   * {@link bearerToken}, remembering the last header: a client sends the same header on request
   * after request, and handing back the very token string extracted before skips the pattern
   * match over the whole token and lets the token cache find it by the hash V8 keeps on that
   * string, instead of hashing a new copy of a token of hundreds of characters every time.
   */
  #bearerToken(authorization: string): string | null | undefined {
    if (authorization === this.#lastAuthorization) return this.#lastToken;
    const token = bearerToken(authorization);
    this.#lastAuthorization = authorization;
    this.#lastToken = token;
    return token;
  }

  // Not `async`: a cached token or an API key continues with `next()`'s own promise, without
  // wrapping it in another one (two microtask hops per request on the hot path).
  handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    let identity: Identity | undefined;
    const authorization = this.#jwt.length > 0 ? exchange.headers.authorization : undefined;
    const token = authorization === undefined ? undefined : this.#bearerToken(authorization);
    if (token === null) return Promise.resolve(this.#refuse(exchange, malformedHeader));
    if (token !== undefined) {
      identity = this.#cachedJwt(token);
      if (identity === undefined) return this.#verifyThenContinue(exchange, token, next);
      if (this.#hideCredentials) exchange.upstreamHeaders.authorization = null;
    } else if (this.#apiKeys !== undefined) {
      const key = exchange.headers[this.#apiKeys.header];
      if (key !== undefined) {
        identity = typeof key === "string" ? this.#apiKeys.lookup(key) : undefined;
        if (identity === undefined) return Promise.resolve(this.#refuse(exchange, AuthFailure.InvalidApiKey));
        if (this.#hideCredentials) exchange.upstreamHeaders[this.#apiKeys.header] = null;
      }
    }
    if (identity === undefined) {
      return this.#optional ? next() : Promise.resolve(this.#refuse(exchange, AuthFailure.Missing));
    }
    return this.#continueAs(exchange, identity, next);
  }

  async #verifyThenContinue(exchange: Exchange, token: string, next: Next): Promise<GatewayResponse> {
    let identity: Identity;
    try {
      identity = await this.#verifyJwt(token);
    } catch (error) {
      return this.#refuse(exchange, isAuthenticationError(error) ? error.reason : AuthFailure.Malformed);
    }
    if (this.#hideCredentials) exchange.upstreamHeaders.authorization = null;
    return this.#continueAs(exchange, identity, next);
  }

  #continueAs(exchange: Exchange, identity: Identity, next: Next): Promise<GatewayResponse> {
    exchange.identity = identity;
    setIdentityHeaders(exchange.upstreamHeaders, identity);
    return next();
  }

  #cachedJwt(token: string): Identity | undefined {
    for (const provider of this.#jwt) {
      const identity = provider.cached(token);
      if (identity !== undefined) return identity;
    }
    return undefined;
  }

  #verifyJwt(token: string): Promise<Identity> {
    if (this.#jwt.length === 1) return this.#jwt[0]!.verify(token);
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch (error) {
      throw new AuthenticationError(AuthFailure.Malformed, { cause: error });
    }
    for (const provider of this.#jwt) {
      if (typeof issuer === "string" && provider.acceptsIssuer(issuer)) return provider.verify(token);
    }
    throw new AuthenticationError(AuthFailure.WrongIssuer);
  }

  #refuse(exchange: Exchange, reason: string): GatewayResponse {
    const refusal = this.#refusals.get(reason) ?? this.#refusals.get(AuthFailure.Malformed)!;
    this.#logger.info(
      {
        route: exchange.routeId,
        reason: refusal.reason,
        clientIp: exchange.clientIp,
        requestId: exchange.requestId,
      },
      "authentication failed",
    );
    return problemResponse(
      401,
      GatewayErrorCode.Unauthorized,
      "Unauthorized",
      refusal.detail,
      refusal.headers,
    );
  }
}

/**
 * The token of a `Bearer` credential; `undefined` for another scheme (not ours to judge),
 * `null` for a `Bearer` credential that is not a well-formed token.
 */
function bearerToken(authorization: string): string | null | undefined {
  const space = authorization.indexOf(" ");
  const scheme = space === -1 ? authorization : authorization.slice(0, space);
  if (scheme.length !== 6 || scheme.toLowerCase() !== "bearer") return undefined;
  const match = bearerCredentials.exec(authorization);
  return match === null ? null : match[1]!;
}

function refusals(realm: string, jwt: boolean, apiKeys: boolean): ReadonlyMap<string, Refusal> {
  const apiKeyChallenge = `ApiKey realm="${realm}"`;
  const challenges = (bearer: string | undefined): ResponseHeaders => {
    const values = [...(bearer === undefined ? [] : [bearer]), ...(apiKeys ? [apiKeyChallenge] : [])];
    return { "www-authenticate": values.length === 1 ? values[0]! : values };
  };
  const plainBearer = jwt ? bearerChallenge(realm) : undefined;
  const map = new Map<string, Refusal>();
  map.set(AuthFailure.Missing, {
    reason: AuthFailure.Missing,
    detail: "credentials required",
    headers: challenges(plainBearer),
  });
  map.set(malformedHeader, {
    reason: malformedHeader,
    detail: malformedHeader,
    headers: challenges(bearerChallenge(realm, "invalid_request", malformedHeader)),
  });
  map.set(AuthFailure.InvalidApiKey, {
    reason: AuthFailure.InvalidApiKey,
    detail: "invalid api key",
    headers: challenges(plainBearer),
  });
  for (const reason of Object.values(AuthFailure)) {
    if (map.has(reason)) continue;
    map.set(reason, {
      reason,
      detail: `invalid token: ${reason}`,
      headers: challenges(bearerChallenge(realm, "invalid_token", reason)),
    });
  }
  return map;
}
