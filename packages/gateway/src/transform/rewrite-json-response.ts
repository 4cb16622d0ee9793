import { GatewayErrorCode } from "../chain/gateway-error.js";
import { bufferedResponse, type GatewayResponse, type ResponseHeaders } from "../chain/gateway-response.js";
import { problemResponse } from "../chain/problem-response.js";
import { isRewritableJsonResponse } from "./json-content-type.js";

/**
 * Parses a buffered JSON response, lets `rewrite` return the document to send (the parsed one
 * changed in place, or a new one; `context` is passed through so callers need no per-request
 * closure) and answers with the new bytes and a correct `content-length`. Streamed, empty,
 * non-JSON, encoded and non-2xx responses come back unchanged; invalid JSON becomes a 502
 * problem. The upstream's `etag` is dropped: it no longer describes the bytes.
 */
export function rewriteJsonResponse<C>(
  response: GatewayResponse,
  rewrite: (document: unknown, context: C) => unknown,
  context: C,
): GatewayResponse {
  const source = response.body;
  if (response.streamed || source === undefined || source.length === 0) return response;
  if (!isRewritableJsonResponse(response.status, response.headers)) return response;
  let document: unknown;
  try {
    document = JSON.parse(source.toString("utf8"));
  } catch {
    return problemResponse(
      502,
      GatewayErrorCode.BadGateway,
      "Bad Gateway",
      "The upstream answered with a body that is not valid JSON.",
    );
  }
  const body = Buffer.from(JSON.stringify(rewrite(document, context) ?? null));
  const headers: ResponseHeaders = { ...response.headers, "content-length": String(body.length) };
  delete headers.etag;
  return bufferedResponse(response.status, headers, body);
}
