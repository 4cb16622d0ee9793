import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import type { GatewayResponse, ResponseHeaders } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import { type AuthorizationInput, authorizationSchema } from "./authorization-layer-options.js";
import { bearerChallenge } from "./bearer-challenge.js";
import { parseAuthOptions } from "./parse-auth-options.js";

/** Options of {@link authorizationLayer}. */
export type AuthorizationLayerOptions = AuthorizationInput & {
  /** Refusals are logged at info (route, subject, what is missing). */
  readonly logger?: GatewayLogger;
};

/**
 * Checks roles and scopes ({@link AuthorizationLayer}).
 *
 * @example
 * ```ts
 * authorizationLayer({ roles: ["admin", "ops"], scopes: ["orders:write"] });
 * ```
 */
export function authorizationLayer(options: AuthorizationLayerOptions): AuthorizationLayer {
  return new AuthorizationLayer(options);
}

/**
 * The `authorization` layer (role-based access per route), after `authentication`: without an
 * identity it answers 401; an identity without one of `roles`, without every one of `allRoles`
 * or without every one of `scopes` gets 403 `FLT_GATEWAY_FORBIDDEN` naming what is required
 * (`requires role admin`), with an RFC 6750 `insufficient_scope` challenge when a scope is missing.
 */
export class AuthorizationLayer implements Layer {
  readonly name = "authorization";
  readonly #anyRole: readonly string[];
  readonly #allRoles: readonly string[];
  readonly #scopes: readonly string[];
  readonly #logger: GatewayLogger;
  readonly #unauthenticatedHeaders: ResponseHeaders;
  readonly #scopeHeaders: ResponseHeaders;
  readonly #anyRoleDetail: string;

  constructor(options: AuthorizationLayerOptions) {
    const { logger, ...rules } = options;
    const resolved = parseAuthOptions(authorizationSchema, rules, "authorization");
    this.#anyRole = resolved.roles ?? [];
    this.#allRoles = resolved.allRoles ?? [];
    this.#scopes = resolved.scopes ?? [];
    this.#logger = logger ?? silentLogger;
    this.#unauthenticatedHeaders = { "www-authenticate": bearerChallenge(resolved.realm) };
    this.#scopeHeaders = {
      "www-authenticate": bearerChallenge(
        resolved.realm,
        "insufficient_scope",
        "insufficient scope",
        this.#scopes,
      ),
    };
    this.#anyRoleDetail =
      this.#anyRole.length === 1
        ? `requires role ${this.#anyRole[0]}`
        : `requires one of roles ${this.#anyRole.join(", ")}`;
  }

  async handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    const identity = exchange.identity;
    if (identity === undefined) {
      return problemResponse(
        401,
        GatewayErrorCode.Unauthorized,
        "Unauthorized",
        "credentials required",
        this.#unauthenticatedHeaders,
      );
    }
    const roles = identity.roles;
    if (this.#anyRole.length > 0 && !hasAny(roles, this.#anyRole)) {
      return this.#forbid(exchange, this.#anyRoleDetail, {});
    }
    for (const role of this.#allRoles) {
      if (!roles.includes(role)) return this.#forbid(exchange, `requires role ${role}`, {});
    }
    for (const scope of this.#scopes) {
      if (!identity.scopes.includes(scope)) {
        return this.#forbid(exchange, `requires scope ${scope}`, this.#scopeHeaders);
      }
    }
    return next();
  }

  #forbid(exchange: Exchange, detail: string, headers: ResponseHeaders): GatewayResponse {
    this.#logger.info(
      { route: exchange.routeId, subject: exchange.identity?.subject, clientIp: exchange.clientIp, detail },
      "authorization refused",
    );
    return problemResponse(403, GatewayErrorCode.Forbidden, "Forbidden", detail, headers);
  }
}

function hasAny(held: readonly string[], wanted: readonly string[]): boolean {
  for (const role of wanted) {
    if (held.includes(role)) return true;
  }
  return false;
}
