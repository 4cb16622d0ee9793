import type { Exchange } from "../chain/exchange.js";
import { connectionListed, isHopByHop } from "./hop-by-hop.js";

/** Prefix of the headers only the gateway may set: identity, deadline, caller. */
export const internalHeaderPrefix = "x-flotilla-";

/**
 * The header list (flat `[name, value, …]`) sent upstream for `exchange`: the client's headers
 * without hop-by-hop ones, without `X-Forwarded-*`/`Forwarded`/`X-Request-Id` and without any
 * `x-flotilla-*` a client sent (identity and deadline headers are the gateway's to set), then
 * `X-Forwarded-For/Proto/Host` and `Forwarded` (RFC 7239) for this hop, the request id, and
 * what layers put in `exchange.upstreamHeaders` (`null` removes).
 *
 * The gateway is the edge: a client's `X-Forwarded-For` is not evidence of anything, so it is
 * replaced, not appended to.
 */
export function upstreamRequestHeaders(exchange: Exchange, hostOverride: string | undefined): string[] {
  const raw = exchange.req.rawHeaders;
  const extra = exchange.upstreamHeaders;
  let hasExtra = false;
  for (const _ in extra) {
    hasExtra = true;
    break;
  }
  const listed = connectionListed(exchange.headers.connection);
  const out: string[] = [];
  let hostValue: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 58 /* ":" h2 pseudo-header */) {
      if (lower === ":authority") hostValue ??= raw[i + 1];
      continue;
    }
    if (lower === "host") {
      hostValue = raw[i + 1];
      continue;
    }
    if (isHopByHop(lower) || isForwarding(lower) || lower.startsWith(internalHeaderPrefix)) continue;
    if (listed?.has(lower) === true) continue;
    if (hasExtra && lower in extra) continue;
    if (exchange.requestBody !== undefined && lower === "content-length") continue;
    out.push(name, raw[i + 1]!);
  }
  const host = hostOverride ?? hostValue ?? exchange.host;
  out.push("host", host);
  out.push("x-forwarded-for", exchange.clientIp);
  out.push("x-forwarded-proto", exchange.protocol);
  if (hostValue !== undefined) out.push("x-forwarded-host", hostValue);
  out.push("forwarded", forwardedElement(exchange.clientIp, hostValue, exchange.protocol));
  out.push("x-request-id", exchange.requestId);
  if (exchange.requestBody !== undefined) out.push("content-length", String(exchange.requestBody.length));
  if (hasExtra) {
    for (const name in extra) {
      const value = extra[name];
      if (value !== null && value !== undefined) out.push(name, value);
    }
  }
  return out;
}

function isForwarding(lower: string): boolean {
  return lower === "forwarded" || lower === "x-request-id" || lower.startsWith("x-forwarded-");
}

/** One `Forwarded` element (RFC 7239 §4): IPv6 nodes bracketed and quoted, the host quoted. */
export function forwardedElement(clientIp: string, host: string | undefined, proto: string): string {
  const node = clientIp.includes(":") ? `"[${clientIp}]"` : clientIp;
  const hostPart = host === undefined ? "" : `;host=${quoted(host)}`;
  return `for=${node}${hostPart};proto=${proto}`;
}

function quoted(value: string): string {
  return value.includes('"') || value.includes("\\") ? `"${value.replace(/["\\]/g, "\\$&")}"` : `"${value}"`;
}
