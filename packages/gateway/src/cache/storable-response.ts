import type { GatewayResponse, ResponseHeaders } from "../chain/gateway-response.js";
import { connectionListed, isHopByHop } from "../proxy/hop-by-hop.js";
import { parseResponseCacheControl } from "./cache-control.js";
import type { CachedResponse } from "./cache-entry.js";
import { varyNames } from "./cache-key.js";

/** What decides whether and how long a response is stored, from the route's options. */
export interface StoragePolicy {
  /** Freshness for responses that state none; `undefined`: such responses are not stored. */
  readonly defaultTtlMs: number | undefined;
  /** Stale-if-error window for responses that state none. */
  readonly staleIfErrorMs: number | undefined;
  readonly maxBodyBytes: number;
  readonly cacheSetCookie: boolean;
}

/** A response that may be stored, and the request headers it varies on. */
export interface StorableResponse {
  readonly entry: CachedResponse;
  /** The `Vary` names, lower-case and sorted; empty when it does not vary. */
  readonly vary: readonly string[];
}

// Status codes cacheable by default (RFC 9110 §15.1), less 206 (ranges are not stored).
const cacheableStatus = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

// Never kept in a stored response: hop-by-hop fields, cookies for one client, and the fields the
// cache writes itself on every answer.
const dropped = new Set(["set-cookie", "age", "content-length"]);

/**
 * The entry to store for a response to a GET (RFC 9111 §3), or `undefined` when it must not be
 * stored: a status not cacheable by default, `no-store`/`no-cache`/`private`, `Vary: *`,
 * `Set-Cookie` (unless allowed), a body over the limit, no freshness, or a response to a request
 * with `Authorization` that does not say `public`, `s-maxage` or `must-revalidate` (§3.5).
 * `now` is wall-clock milliseconds.
 */
export function storableResponse(
  response: GatewayResponse,
  authorized: boolean,
  policy: StoragePolicy,
  now: number,
): StorableResponse | undefined {
  if (!cacheableStatus.has(response.status)) return undefined;
  const body = response.body ?? Buffer.alloc(0);
  if (body.length > policy.maxBodyBytes) return undefined;
  const headers = response.headers;
  const cc = parseResponseCacheControl(headers["cache-control"]);
  if (cc.noStore || cc.noCache || cc.private) return undefined;
  if (authorized && !cc.public && cc.sMaxAge === undefined && !cc.mustRevalidate) return undefined;
  if (headers["set-cookie"] !== undefined && !policy.cacheSetCookie) return undefined;
  const vary = varyNames(headers.vary);
  if (vary === "*") return undefined;

  // RFC 9111 §4.2.1: s-maxage, then max-age, then Expires − Date.
  let lifetimeMs: number | undefined;
  const seconds = cc.sMaxAge ?? cc.maxAge;
  if (seconds !== undefined) lifetimeMs = seconds * 1000;
  else if (headers.expires !== undefined) {
    const expires = Date.parse(first(headers.expires));
    const dateHeader = headers.date === undefined ? Number.NaN : Date.parse(first(headers.date));
    // An invalid Expires means "already expired" (§5.3).
    lifetimeMs = Number.isNaN(expires) ? 0 : expires - (Number.isNaN(dateHeader) ? now : dateHeader);
  } else lifetimeMs = policy.defaultTtlMs;
  if (lifetimeMs === undefined) return undefined;

  // §4.2.3: the age the response already had when it arrived (an upstream cache's Age).
  const ageMs = headers.age === undefined ? 0 : ageSeconds(first(headers.age)) * 1000;
  const freshUntil = now + lifetimeMs - ageMs;
  if (freshUntil <= now) return undefined;
  // RFC 5861 §4; without its own directive, a response that forbids serving stale gets no window.
  const staleMs =
    cc.staleIfError !== undefined
      ? cc.staleIfError * 1000
      : cc.mustRevalidate || cc.proxyRevalidate
        ? 0
        : (policy.staleIfErrorMs ?? 0);

  return {
    entry: {
      kind: "response",
      status: response.status,
      headers: storedHeaders(headers, response.status === 204 ? undefined : body.length),
      body,
      storedAt: now - ageMs,
      freshUntil,
      staleUntil: freshUntil + staleMs,
    },
    vary,
  };
}

// RFC 9110 §8.6: no Content-Length on a 204.
function storedHeaders(headers: ResponseHeaders, bodyLength: number | undefined): ResponseHeaders {
  const connection = headers.connection;
  const listed = connectionListed(connection === undefined ? undefined : [connection].flat().join(","));
  const out: Record<string, string | readonly string[]> = {};
  for (const name in headers) {
    if (dropped.has(name) || isHopByHop(name) || listed?.has(name) === true) continue;
    out[name] = headers[name] as string | readonly string[];
  }
  if (bodyLength !== undefined) out["content-length"] = String(bodyLength);
  return out;
}

function first(value: string | readonly string[]): string {
  return typeof value === "string" ? value : (value[0] ?? "");
}

function ageSeconds(value: string): number {
  const n = Number(value.trim());
  return Number.isInteger(n) && n > 0 ? n : 0;
}
