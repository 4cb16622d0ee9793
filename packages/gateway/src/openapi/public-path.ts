/** How a gateway route exposes an upstream's paths. */
export interface ExposedAs {
  /** The public path prefix on the gateway (`/api/users`); `""` or `/` for none. */
  readonly prefix: string;
  /**
   * The part of the upstream's paths the public path does not show (`/v1`): the gateway's route
   * replaces {@link prefix} with it when forwarding. Paths of the upstream outside it are not
   * reachable through the route. Default none.
   */
  readonly stripPrefix?: string;
}

/** `/api/` → `/api`, `/` → ``, `api` → `/api`. */
function normalizePrefix(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === "/") end--;
  const trimmed = prefix.slice(0, end);
  if (trimmed === "") return "";
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/**
 * The public path on the gateway of an upstream's document path: `stripPrefix` taken off (at a
 * segment boundary), `prefix` put in front. `undefined` when the path lies outside `stripPrefix`.
 *
 * `publicPath("/v1/users/{id}", { prefix: "/api", stripPrefix: "/v1" })` → `/api/users/{id}`.
 */
export function publicPath(documentPath: string, exposedAs: ExposedAs): string | undefined {
  const strip = normalizePrefix(exposedAs.stripPrefix ?? "");
  let rest = documentPath;
  if (strip !== "") {
    if (documentPath === strip) rest = "";
    else if (documentPath.startsWith(`${strip}/`)) rest = documentPath.slice(strip.length);
    else return undefined;
  }
  const joined = normalizePrefix(exposedAs.prefix) + rest;
  return joined === "" ? "/" : joined;
}

/** A path with its parameter names blanked (`/users/{id}` → `/users/{}`): OpenAPI counts such paths as the same. */
export function pathShape(path: string): string {
  return path.replace(/\{[^}]*\}/g, "{}");
}
