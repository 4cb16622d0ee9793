import type { Exchange } from "../chain/exchange.js";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { connectionListed, isHopByHop } from "./hop-by-hop.js";
import { propagatedTrace } from "./trace-propagation.js";

/** Prefix of the headers only the gateway may set: identity, deadline, caller. */
export const internalHeaderPrefix = "x-flotilla-";

/** The header section sent upstream: `name: value\r\n` lines, and whether it sets `Content-Length`. */
export interface UpstreamHead {
  readonly lines: string;
  readonly hasContentLength: boolean;
}

const traceHeaders = new Set(["traceparent", "tracestate", "baggage", "b3"]);
const safeValue = /^[^\r\n\0]*$/;

/**
 * The header section sent upstream for `exchange`: the client's headers without hop-by-hop ones,
 * without `X-Forwarded-*`/`Forwarded`/`X-Request-Id` and without any `x-flotilla-*` a client sent
 * (identity and deadline headers are the gateway's to set), then `X-Forwarded-For/Proto/Host` and
 * `Forwarded` (RFC 7239) for this hop, the request id, and what layers put in
 * `exchange.upstreamHeaders` (`null` removes). With `trace`, the client's trace headers give way
 * to the gateway span's (see {@link propagatedTrace}). Built as one string: the client's header
 * values were already checked by Node's parser, the ones layers and rewrites add are checked here.
 *
 * The gateway is the edge: a client's `X-Forwarded-For` is not evidence of anything, so it is
 * replaced, not appended to.
 */
export function upstreamRequestHead(
  exchange: Exchange,
  hostOverride: string | undefined,
  trace: boolean,
): UpstreamHead {
  const raw = exchange.req.rawHeaders;
  const extra = exchange.upstreamHeaders;
  let hasExtra = false;
  for (const _ in extra) {
    hasExtra = true;
    break;
  }
  const listed = connectionListed(exchange.headers.connection);
  const replacedBody = exchange.requestBody !== undefined;
  let lines = "";
  let hasContentLength = false;
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
    if (lower === "content-length") {
      if (replacedBody) continue;
      hasContentLength = true;
    }
    if (trace && (traceHeaders.has(lower) || lower.startsWith("x-b3-"))) continue;
    lines += `${name}: ${raw[i + 1]!}\r\n`;
  }
  const host = hostOverride ?? hostValue ?? exchange.host;
  lines += `host: ${host}\r\nx-forwarded-for: ${exchange.clientIp}\r\nx-forwarded-proto: ${exchange.protocol}\r\n`;
  if (hostValue !== undefined) lines += `x-forwarded-host: ${hostValue}\r\n`;
  lines += `forwarded: ${forwardedElement(exchange.clientIp, hostValue, exchange.protocol)}\r\nx-request-id: ${exchange.requestId}\r\n`;
  if (replacedBody) {
    lines += `content-length: ${exchange.requestBody!.length}\r\n`;
    hasContentLength = true;
  }
  if (hasExtra) {
    for (const name in extra) {
      const value = extra[name];
      if (value === null || value === undefined) continue;
      if (!safeValue.test(value)) {
        throw new GatewayError(
          GatewayErrorCode.Internal,
          `a layer set header ${name} to a value with CR, LF or NUL`,
        );
      }
      if (name === "content-length") hasContentLength = true;
      lines += `${name}: ${value}\r\n`;
    }
  }
  if (trace) lines += propagatedTrace();
  return { lines, hasContentLength };
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
