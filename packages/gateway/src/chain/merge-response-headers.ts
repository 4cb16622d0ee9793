/**
 * Puts the headers layers added (`exchange.responseHeaders`) into a response's headers: each
 * replaces the upstream's header of the same name, except `Vary`, whose field names are merged
 * (CORS adds `Origin`; the upstream's `Accept-Encoding` must stay).
 */
export function mergeResponseHeaders(
  headers: Record<string, string | string[]>,
  added: Readonly<Record<string, string>>,
): void {
  for (const name in added) {
    const value = added[name]!;
    const existing = headers[name];
    headers[name] = name === "vary" && existing !== undefined ? mergeVary(existing, value) : value;
  }
}

/** The union of two `Vary` values, case-insensitively, in order of first appearance. */
export function mergeVary(existing: string | readonly string[], added: string): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const part of [...(typeof existing === "string" ? [existing] : existing), added]
    .join(",")
    .split(",")) {
    const name = part.trim();
    if (name === "" || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    out.push(name);
  }
  return out.join(", ");
}
