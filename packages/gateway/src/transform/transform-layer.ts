import type { Readable } from "node:stream";
import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import { bufferedResponse, type GatewayResponse, type ResponseHeaders } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import { JsonBodyMapping } from "./json-body-mapping.js";
import { isJsonContentType } from "./json-content-type.js";
import { parseLayerOptions } from "./option-schemas.js";
import { readRequestBody } from "./read-request-body.js";
import { rewriteJsonResponse } from "./rewrite-json-response.js";
import { type TransformConfig, type TransformOptions, transformOptionsSchema } from "./transform-options.js";

/**
 * A layer that rewrites what passes through: request headers (into `exchange.upstreamHeaders`),
 * response headers, and the fields of JSON request and response bodies. Throws
 * `FLT_GATEWAY_CONFIG_INVALID` for invalid options.
 *
 * @example
 * transformLayer({
 *   requestHeaders: { set: { "x-api-version": "2" }, remove: ["cookie"] },
 *   responseBody: { rename: { "items.price": "items.cost" }, remove: ["internal"] },
 * });
 */
export function transformLayer(options: TransformOptions): TransformLayer {
  return new TransformLayer(parseLayerOptions(transformOptionsSchema, options, "transform"));
}

/** See {@link transformLayer}. */
export class TransformLayer implements Layer {
  readonly name = "transform";
  readonly #requestSet: readonly (readonly [string, string | null])[];
  readonly #requestAdd: readonly (readonly [string, string])[];
  readonly #requestRemove: readonly string[];
  readonly #responseSet: readonly (readonly [string, string])[];
  readonly #responseRemove: readonly string[];
  readonly #requestMapping: JsonBodyMapping | undefined;
  readonly #responseMapping: JsonBodyMapping | undefined;
  readonly #maxBodyBytes: number;
  readonly #editsResponseHeaders: boolean;
  readonly #buffersResponse: boolean;

  constructor(config: TransformConfig) {
    this.#requestSet = Object.entries(config.requestHeaders?.set ?? {});
    this.#requestAdd = Object.entries(config.requestHeaders?.add ?? {});
    this.#requestRemove = config.requestHeaders?.remove ?? [];
    this.#responseSet = Object.entries(config.responseHeaders?.set ?? {});
    this.#responseRemove = config.responseHeaders?.remove ?? [];
    this.#requestMapping = mappingOf(config.requestBody);
    this.#responseMapping = mappingOf(config.responseBody);
    this.#maxBodyBytes = config.maxBodyBytes;
    this.#editsResponseHeaders = this.#responseSet.length > 0 || this.#responseRemove.length > 0;
    this.#buffersResponse = this.#responseMapping !== undefined || this.#responseRemove.length > 0;
  }

  async handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    this.#editRequestHeaders(exchange);
    if (this.#requestMapping !== undefined) {
      const refusal = await this.#mapRequestBody(exchange, this.#requestMapping);
      if (refusal !== undefined) return refusal;
    }
    for (const [name, value] of this.#responseSet) exchange.responseHeaders[name] = value;
    if (this.#buffersResponse) exchange.bufferResponse = true;
    // The body must arrive uncompressed to be rewritten.
    if (this.#responseMapping !== undefined) exchange.upstreamHeaders["accept-encoding"] = "identity";
    let response = await next();
    if (this.#responseMapping !== undefined)
      response = rewriteJsonResponse(response, applyMapping, this.#responseMapping);
    if (this.#editsResponseHeaders && !response.streamed) response = this.#editResponseHeaders(response);
    return response;
  }

  #editRequestHeaders(exchange: Exchange): void {
    const upstream = exchange.upstreamHeaders;
    for (const [name, value] of this.#requestSet) upstream[name] = value;
    for (const [name, value] of this.#requestAdd) {
      const current = name in upstream ? upstream[name] : exchange.headers[name];
      if (current === null || current === undefined || current === "") upstream[name] = value;
      else {
        const joined = typeof current === "string" ? current : current.join(", ");
        upstream[name] = `${joined}${name === "cookie" ? "; " : ", "}${value}`;
      }
    }
    for (const name of this.#requestRemove) upstream[name] = null;
  }

  async #mapRequestBody(exchange: Exchange, mapping: JsonBodyMapping): Promise<GatewayResponse | undefined> {
    const headers = exchange.headers;
    if (!isJsonContentType(headers["content-type"]) || !mayHaveBody(exchange)) return undefined;
    const coding = headers["content-encoding"];
    if (coding !== undefined && coding !== "identity") {
      return problemResponse(
        415,
        GatewayErrorCode.BadRequest,
        "Unsupported Media Type",
        "This route does not accept content-encoded JSON request bodies.",
      );
    }
    const read = await readRequestBody(
      exchange.req as Readable,
      headers["content-length"],
      this.#maxBodyBytes,
    );
    if (!read.ok) {
      return read.reason === "too-large"
        ? problemResponse(
            413,
            GatewayErrorCode.BodyTooLarge,
            "Content Too Large",
            `The request body exceeds ${this.#maxBodyBytes} bytes.`,
          )
        : problemResponse(
            400,
            GatewayErrorCode.BadRequest,
            "Bad Request",
            "The request body was incomplete.",
          );
    }
    let body = read.body;
    if (body.length > 0) {
      let document: unknown;
      try {
        document = JSON.parse(body.toString("utf8"));
      } catch {
        return problemResponse(
          400,
          GatewayErrorCode.BadRequest,
          "Bad Request",
          "The request body is not valid JSON.",
        );
      }
      mapping.apply(document);
      body = Buffer.from(JSON.stringify(document));
    }
    // The client's stream is consumed: the proxy sends these bytes, framed by length.
    exchange.requestBody = body;
    exchange.upstreamHeaders["content-length"] = String(body.length);
    exchange.upstreamHeaders["transfer-encoding"] = null;
    return undefined;
  }

  #editResponseHeaders(response: GatewayResponse): GatewayResponse {
    const headers: ResponseHeaders = { ...response.headers };
    for (const name of this.#responseRemove) delete headers[name];
    for (const [name, value] of this.#responseSet) headers[name] = value;
    return bufferedResponse(response.status, headers, response.body);
  }
}

function applyMapping(document: unknown, mapping: JsonBodyMapping): unknown {
  mapping.apply(document);
  return document;
}

function mappingOf(config: TransformConfig["requestBody"]): JsonBodyMapping | undefined {
  if (config === undefined) return undefined;
  const mapping = new JsonBodyMapping(config);
  return mapping.empty ? undefined : mapping;
}

/** False for an HTTP/1 request that declares no body (no `content-length`, no `transfer-encoding`). */
function mayHaveBody(exchange: Exchange): boolean {
  const headers = exchange.headers;
  if (headers["content-length"] === "0") return false;
  if (headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined) return true;
  return exchange.req.httpVersionMajor >= 2;
}
