import type { IncomingHttpHeaders } from "node:http";
import type { Exchange } from "../chain/exchange.js";

/** The key of a URL's entry (RFC 9111 §2): host, path and query; the method is always GET. */
export function cacheKey(exchange: Exchange): string {
  return exchange.host + exchange.path + exchange.query;
}

/**
 * The header names a response's `Vary` lists (RFC 9111 §4.1), lower-case, sorted and without
 * duplicates; `"*"` when it varies on something outside the request; `[]` when there is none.
 */
export function varyNames(value: string | readonly string[] | undefined): readonly string[] | "*" {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const part of (typeof value === "string" ? value : value.join(",")).split(",")) {
    const name = part.trim().toLowerCase();
    if (name === "") continue;
    if (name === "*") return "*";
    if (!names.includes(name)) names.push(name);
  }
  return names.sort();
}

// NUL cannot occur in a host, a path, a query or a header value, so keys cannot collide.
const separator = "\u0000";

/** The key of one variant: the URL's key plus the request's values of the `Vary` names. */
export function variantKey(baseKey: string, names: readonly string[], headers: IncomingHttpHeaders): string {
  let key = baseKey;
  for (const name of names) {
    const value = headers[name];
    key +=
      separator + (value === undefined ? "" : typeof value === "string" ? value.trim() : value.join(","));
  }
  return key;
}

/** True when two sorted name lists are equal. */
export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
