import type { AnyRoute } from "../contract/route.js";

/**
 * Whether repeating a call of `route` is safe: its `idempotent` flag, else true for GET, PUT and
 * DELETE and false for POST and PATCH (RFC 9110 §9.2.2).
 */
export function isRouteIdempotent(route: AnyRoute): boolean {
  return route.idempotent ?? (route.method === "GET" || route.method === "PUT" || route.method === "DELETE");
}
