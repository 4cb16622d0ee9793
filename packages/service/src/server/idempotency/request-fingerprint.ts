import { createHash } from "node:crypto";

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` hash alike. */
function canonical(value: unknown, out: string[]): void {
  if (value === null || typeof value !== "object") {
    out.push(JSON.stringify(value) ?? "null");
    return;
  }
  if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      canonical(item, out);
    });
    out.push("]");
    return;
  }
  out.push("{");
  let first = true;
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined) continue;
    if (!first) out.push(",");
    first = false;
    out.push(JSON.stringify(key), ":");
    canonical(item, out);
  }
  out.push("}");
}

/**
 * The SHA-256 (hex) of a request's path parameters, query and body as received, in canonical JSON
 * (sorted keys), so the same key sent with another request is recognised whatever the key order.
 */
export function requestFingerprint(parts: { params: unknown; query: unknown; body: unknown }): string {
  const out: string[] = [];
  canonical([parts.params ?? {}, parts.query ?? {}, parts.body ?? null], out);
  return createHash("sha256").update(out.join("")).digest("hex");
}
