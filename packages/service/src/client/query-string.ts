/**
 * The query string (with its leading `?`, or `""` when empty) for a route's `query` input, in the
 * form Fastify's default parser reads back: `undefined` values are left out, `null` is an empty
 * value, an array repeats its key, a `Date` is sent as ISO 8601, another object as JSON, anything
 * else as `String(value)`. Keys and values are `encodeURIComponent`-encoded.
 */
export function queryString(query: Readonly<Record<string, unknown>> | undefined): string {
  if (query === undefined || query === null) return "";
  let out = "";
  for (const key in query) {
    const value = query[key];
    if (value === undefined) continue;
    const name = encodeURIComponent(key);
    if (Array.isArray(value)) {
      for (const item of value) {
        if (item === undefined) continue;
        out += `${out === "" ? "?" : "&"}${name}=${encodeURIComponent(text(item))}`;
      }
    } else {
      out += `${out === "" ? "?" : "&"}${name}=${encodeURIComponent(text(value))}`;
    }
  }
  return out;
}

function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
