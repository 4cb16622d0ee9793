import type { IncomingHttpHeaders } from "node:http";
import type { ResponseHeaders } from "../chain/gateway-response.js";

/**
 * True when a request's `If-None-Match` (weak comparison), or without it its `If-Modified-Since`,
 * says the client already has the stored representation (RFC 9110 §13.1.2, §13.1.3).
 */
export function isNotModified(request: IncomingHttpHeaders, stored: ResponseHeaders): boolean {
  const ifNoneMatch = request["if-none-match"];
  if (ifNoneMatch !== undefined) {
    const etag = stored.etag;
    if (typeof etag !== "string") return false;
    const tag = opaqueTag(etag.trim());
    for (const candidate of ifNoneMatch.split(",")) {
      const trimmed = candidate.trim();
      if (trimmed === "*" || opaqueTag(trimmed) === tag) return true;
    }
    return false;
  }
  const ifModifiedSince = request["if-modified-since"];
  const lastModified = stored["last-modified"];
  if (ifModifiedSince === undefined || typeof lastModified !== "string") return false;
  const since = Date.parse(ifModifiedSince);
  const modified = Date.parse(lastModified);
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
}

function opaqueTag(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}

// RFC 9110 §15.4.5: the fields a 304 carries, plus the cache's own.
const notModifiedFields = [
  "cache-control",
  "content-location",
  "date",
  "etag",
  "expires",
  "vary",
  "last-modified",
  "age",
  "cache-status",
];

/** The headers of a 304 answering from a stored response's headers. */
export function notModifiedHeaders(headers: ResponseHeaders): ResponseHeaders {
  const out: Record<string, string | readonly string[]> = {};
  for (const name of notModifiedFields) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
