import type { ResponseHeaders } from "../chain/gateway-response.js";

/**
 * True for a JSON media type: `application/json` or any `application/*+json` (RFC 6839), with
 * or without parameters, any case.
 */
export function isJsonContentType(value: string | readonly string[] | undefined): boolean {
  if (typeof value !== "string") return false;
  const semicolon = value.indexOf(";");
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

/**
 * True when a buffered response carries a body the gateway may parse and rewrite: a JSON
 * content type, no content coding, and a 2xx status other than 206 (error bodies keep the
 * upstream's shape; a partial body is no JSON document).
 */
export function isRewritableJsonResponse(status: number, headers: ResponseHeaders): boolean {
  if (status < 200 || status >= 300 || status === 206) return false;
  const coding = headers["content-encoding"];
  if (coding !== undefined && coding !== "identity") return false;
  return isJsonContentType(headers["content-type"]);
}
