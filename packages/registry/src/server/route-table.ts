/** The routes of the registry API, by what they do. */
export type RouteName =
  | "register"
  | "deregister"
  | "renew"
  | "services"
  | "service"
  | "serviceStream"
  | "kvList"
  | "kvKey"
  | "kvStream"
  | "openapi"
  | "health"
  | "metrics";

/** A matched route: its name, its template (the metrics label) and its decoded path parameters. */
export interface RouteMatch {
  readonly name: RouteName;
  readonly template: string;
  /** Methods the route answers, for `405` and `Allow`. */
  readonly methods: readonly string[];
  readonly params: readonly string[];
}

const read = ["GET", "HEAD"] as const;

/**
 * Matches a request path (without its query) against the API's routes. `undefined` when no route
 * has this shape; throws a `URIError` for a malformed percent-encoding. A KV key may hold `/`s:
 * everything after `/v1/kv/` is the key.
 */
export function matchRoute(path: string): RouteMatch | undefined {
  switch (path) {
    case "/v1/instances":
      return route("register", path, ["POST"], []);
    case "/v1/services":
      return route("services", path, read, []);
    case "/v1/kv":
      return route("kvList", path, read, []);
    case "/v1/kv-stream":
      return route("kvStream", path, ["GET"], []);
    case "/openapi.json":
      return route("openapi", path, read, []);
    case "/health":
      return route("health", path, read, []);
    case "/metrics":
      return route("metrics", path, read, []);
  }
  if (path.startsWith("/v1/kv/")) {
    return route(
      "kvKey",
      "/v1/kv/{key}",
      ["GET", "HEAD", "PUT", "DELETE"],
      [decodeURIComponent(path.slice(7))],
    );
  }
  const parts = path.split("/");
  // parts[0] is "" (the path starts with "/"); empty segments never match a parameter.
  if (parts[1] !== "v1" || parts.some((p, i) => i > 0 && p === "")) return undefined;
  const [, , resource, a, b] = parts;
  const n = parts.length;
  if (resource === "instances" && n === 5) {
    return route("deregister", "/v1/instances/{service}/{id}", ["DELETE"], [decode(a), decode(b)]);
  }
  if (resource === "leases" && n === 5 && b === "renew") {
    return route("renew", "/v1/leases/{lease}/renew", ["PUT"], [decode(a)]);
  }
  if (resource === "services" && n === 4)
    return route("service", "/v1/services/{service}", read, [decode(a)]);
  if (resource === "services" && n === 5 && b === "stream") {
    return route("serviceStream", "/v1/services/{service}/stream", ["GET"], [decode(a)]);
  }
  return undefined;
}

function route(
  name: RouteName,
  template: string,
  methods: readonly string[],
  params: readonly string[],
): RouteMatch {
  return { name, template, methods, params };
}

function decode(segment: string | undefined): string {
  return decodeURIComponent(segment ?? "");
}
