import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import { bufferedResponse, type GatewayResponse, type ResponseHeaders } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import { parseLayerOptions } from "../transform/option-schemas.js";
import { type CorsConfig, type CorsOptions, corsOptionsSchema } from "./cors-options.js";
import { OriginMatcher } from "./origin-matcher.js";

// RFC 9110 §5.6.2 token: what a requested header name must be before it is echoed.
const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/**
 * A layer implementing the CORS protocol of the Fetch standard
 * (https://fetch.spec.whatwg.org/#http-cors-protocol). A preflight (`OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`) is answered here: 204 with the `Access-Control-Allow-*`
 * headers, or a 403 problem (`FLT_GATEWAY_CORS_REJECTED`) for an origin, method or header the
 * options do not allow. Other requests from an allowed origin get `Access-Control-Allow-Origin`
 * (and credentials and exposed headers) on their response; from any other origin they pass
 * without CORS headers, which makes the browser withhold the response. When the answer depends
 * on the origin, every response carries `Vary: Origin`, also to requests without one, so that
 * no cache hands one origin's answer to another (https://fetch.spec.whatwg.org/#cors-protocol-and-http-caches).
 * Throws `FLT_GATEWAY_CONFIG_INVALID` for invalid options.
 *
 * @example
 * corsLayer({ origins: ["https://app.example.com", "https://*.preview.example.com"], credentials: true, maxAge: "10m" });
 */
export function corsLayer(options: CorsOptions): CorsLayer {
  return new CorsLayer(parseLayerOptions(corsOptionsSchema, options, "cors"));
}

/** See {@link corsLayer}. */
export class CorsLayer implements Layer {
  readonly name = "cors";
  readonly #anyOrigin: boolean;
  readonly #matcher: OriginMatcher;
  /** `*` is sent only for any origin without credentials; otherwise the origin is echoed. */
  readonly #allowOriginStar: boolean;
  readonly #credentials: boolean;
  readonly #methods: ReadonlySet<string> | undefined;
  readonly #headers: ReadonlySet<string> | undefined;
  readonly #exposeHeaders: string | undefined;
  readonly #preflightHeaders: Readonly<Record<string, string>>;

  constructor(config: CorsConfig) {
    this.#anyOrigin = config.origins === "*";
    this.#matcher = new OriginMatcher(config.origins === "*" ? [] : config.origins);
    this.#credentials = config.credentials;
    this.#allowOriginStar = this.#anyOrigin && !config.credentials;
    this.#methods = config.methods === "*" ? undefined : new Set(config.methods);
    this.#headers = config.allowHeaders === "*" ? undefined : new Set(config.allowHeaders);
    const expose = config.exposeHeaders === "*" ? ["*"] : config.exposeHeaders;
    this.#exposeHeaders = expose.length === 0 ? undefined : expose.join(", ");
    const preflight: Record<string, string> = { vary: preflightVary };
    if (config.credentials) preflight["access-control-allow-credentials"] = "true";
    if (config.methods !== "*") preflight["access-control-allow-methods"] = config.methods.join(", ");
    if (config.allowHeaders !== "*" && config.allowHeaders.length > 0) {
      preflight["access-control-allow-headers"] = config.allowHeaders.join(", ");
    }
    if (config.maxAge !== undefined)
      preflight["access-control-max-age"] = String(Math.floor(config.maxAge / 1000));
    this.#preflightHeaders = preflight;
  }

  async handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    const origin = exchange.headers.origin;
    const responseHeaders = exchange.responseHeaders;
    if (origin === undefined) {
      if (!this.#allowOriginStar) appendVary(responseHeaders, "Origin");
      return next();
    }
    const allowed = this.#anyOrigin || this.#matcher.matches(origin);
    const requestMethod = exchange.headers["access-control-request-method"];
    if (exchange.method === "OPTIONS" && typeof requestMethod === "string") {
      return this.#preflight(exchange, origin, allowed, requestMethod);
    }
    if (!this.#allowOriginStar) appendVary(responseHeaders, "Origin");
    if (allowed) {
      responseHeaders["access-control-allow-origin"] = this.#allowOriginStar ? "*" : origin;
      if (this.#credentials) responseHeaders["access-control-allow-credentials"] = "true";
      if (this.#exposeHeaders !== undefined)
        responseHeaders["access-control-expose-headers"] = this.#exposeHeaders;
    }
    return next();
  }

  #preflight(exchange: Exchange, origin: string, allowed: boolean, requestMethod: string): GatewayResponse {
    if (!allowed) return rejection("The origin is not allowed to call this route.");
    const method = requestMethod.trim();
    if (
      !tokenPattern.test(method) ||
      (this.#methods !== undefined && !this.#methods.has(method.toUpperCase()))
    ) {
      return rejection(
        `The method ${tokenPattern.test(method) ? method : "requested"} is not allowed from this origin.`,
      );
    }
    const headers: ResponseHeaders = { ...this.#preflightHeaders };
    headers["access-control-allow-origin"] = this.#allowOriginStar ? "*" : origin;
    if (this.#methods === undefined) headers["access-control-allow-methods"] = method;
    const requested = exchange.headers["access-control-request-headers"];
    if (typeof requested === "string" && requested.trim() !== "") {
      const names = requested.split(",");
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!.trim().toLowerCase();
        if (name === "") continue;
        if (!tokenPattern.test(name)) return rejection("A requested header name is malformed.");
        if (this.#headers !== undefined && !this.#headers.has(name)) {
          return rejection(`The header ${name} is not allowed from this origin.`);
        }
      }
      // Echoing the request also covers `authorization`, which the `*` wildcard never does.
      if (this.#headers === undefined) headers["access-control-allow-headers"] = requested;
    }
    return bufferedResponse(204, headers, undefined);
  }
}

function rejection(detail: string): GatewayResponse {
  return problemResponse(403, GatewayErrorCode.CorsRejected, "CORS Request Rejected", detail, {
    vary: preflightVary,
  });
}

/** Adds `token` to a `Vary` list unless it is already there. */
function appendVary(headers: Record<string, string>, token: string): void {
  const current = headers.vary;
  if (current === undefined || current === "") headers.vary = token;
  else if (
    current !== "*" &&
    !current
      .toLowerCase()
      .split(",")
      .some((t) => t.trim() === token.toLowerCase())
  ) {
    headers.vary = `${current}, ${token}`;
  }
}
