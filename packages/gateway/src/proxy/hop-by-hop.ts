/**
 * Hop-by-hop header names (RFC 9110 §7.6.1, plus the legacy `keep-alive` and `proxy-connection`
 * that RFC 7230 and browsers still send), which a proxy must not forward, and `expect`, which Node
 * answers itself. Lower case.
 */
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "http2-settings",
]);

// Lengths of the names above: a name of any other length skips the set lookup entirely.
const hopByHopLengths = new Set([...hopByHop].map((name) => name.length));

/** True for a lower-case header name a proxy never forwards. */
export function isHopByHop(lowerName: string): boolean {
  return hopByHopLengths.has(lowerName.length) && hopByHop.has(lowerName);
}

/**
 * True for a lower-case header name that frames the message or belongs to one hop: hop-by-hop
 * names and `content-length`. Neither configuration (transforms, composite parts) nor clients set
 * these on what the gateway sends; the gateway does.
 */
export function isFramingHeader(lowerName: string): boolean {
  return lowerName === "content-length" || isHopByHop(lowerName);
}

/**
 * The extra header names a `Connection` header lists (RFC 9110 §7.6.1: "close, x-foo" makes
 * `x-foo` hop-by-hop), lower case; `undefined` when it lists none beyond `close`/`keep-alive`/`upgrade`.
 */
export function connectionListed(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value.length === 0) return undefined;
  let listed: Set<string> | undefined;
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name === "" || name === "close" || name === "keep-alive" || name === "upgrade") continue;
    listed ??= new Set();
    listed.add(name);
  }
  return listed;
}
