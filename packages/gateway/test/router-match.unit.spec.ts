import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { GatewayErrorCode, isGatewayError } from "../src/chain/gateway-error.js";
import type { RequestHeaders, RouteMatchSpec } from "../src/router/route-match-spec.js";
import { routeMatchSchema } from "../src/router/route-match-spec.js";
import { compileRouter, type Router } from "../src/router/router.js";

type Spec = RouteMatchSpec<string>;

function route(
  id: string,
  path: Spec["path"],
  extra: Partial<Omit<Spec, "id" | "path" | "payload">> = {},
): Spec {
  return { id, path, payload: `payload-${id}`, ...extra };
}

function matchedId(
  router: Router<string>,
  path: string,
  method = "GET",
  host = "example.com",
  headers: RequestHeaders = {},
) {
  const result = router.match(method, host, path, headers);
  return result.kind === "matched" ? result.route.id : result.kind;
}

function configError(routes: Spec[]): string {
  try {
    compileRouter(routes);
  } catch (error) {
    expect(isGatewayError(error)).toBe(true);
    expect((error as { code: string }).code).toBe(GatewayErrorCode.ConfigInvalid);
    return (error as Error).message;
  }
  throw new Error("expected compileRouter to throw");
}

describe("compileRouter precedence", () => {
  const router = compileRouter([
    route("root-prefix", { prefix: "/" }),
    route("api-prefix", { prefix: "/api" }),
    route("api-v1-prefix", { prefix: "/api/v1/" }),
    route("user-template", { template: "/api/v1/users/:id" }),
    route("user-me-template", { template: "/api/v1/users/me" }),
    route("user-orders", { template: "/api/v1/users/:id/orders/:orderId" }),
    route("param-heavy", { template: "/api/:a/:b/:c" }),
    route("files-rest", { template: "/api/v1/files/*" }),
    route("files-one", { template: "/api/v1/files/:name" }),
    route("health-exact", { exact: "/api/v1/users/health" }),
    route("late-exact-dup", { exact: "/api/v1/users/health" }),
  ]);

  it.each([
    ["/", "root-prefix"],
    ["/other", "root-prefix"],
    ["/api", "api-prefix"],
    ["/api/", "api-prefix"],
    ["/api/x", "api-prefix"],
    ["/apix", "root-prefix"],
    ["/api/v1", "api-v1-prefix"],
    ["/api/v1/x/y/z", "api-v1-prefix"],
    ["/api/v1x", "api-prefix"],
    ["/api/v1/users/42", "user-template"],
    ["/api/v1/users/42/", "api-v1-prefix"],
    ["/api/v1/users/me", "user-me-template"],
    ["/api/v1/users/health", "health-exact"],
    ["/api/v1/users/42/orders/7", "user-orders"],
    ["/api/v2/users/42", "param-heavy"],
    ["/api/v1/files/a.txt", "files-one"],
    ["/api/v1/files/a/b", "files-rest"],
    ["/api/v1/files/", "files-rest"],
    ["/api/v1/files", "api-v1-prefix"],
    ["/API/v1/users/42", "root-prefix"],
  ])("%s → %s", (path, id) => {
    expect(matchedId(router, path)).toBe(id);
  });

  it("lets a higher priority win over any kind", () => {
    const r = compileRouter([
      route("exact", { exact: "/a/b" }),
      route("template", { template: "/a/:x" }, { priority: 1 }),
      route("prefix", { prefix: "/a" }, { priority: 2 }),
    ]);
    expect(matchedId(r, "/a/b")).toBe("prefix");
    const r2 = compileRouter([
      route("exact", { exact: "/a/b" }),
      route("template", { template: "/a/:x" }, { priority: 1 }),
      route("prefix", { prefix: "/a" }, { priority: -1 }),
    ]);
    expect(matchedId(r2, "/a/b")).toBe("template");
    expect(matchedId(r2, "/a/b/c")).toBe("prefix");
  });

  it("breaks ties by declaration order", () => {
    const r = compileRouter([route("first", { template: "/a/:x" }), route("second", { template: "/a/:y" })]);
    expect(matchedId(r, "/a/1")).toBe("first");
    const r2 = compileRouter([route("second", { template: "/a/:y" }), route("first", { template: "/a/:x" })]);
    expect(matchedId(r2, "/a/1")).toBe("second");
  });

  it("does not let a template param match an empty segment, and is case-sensitive", () => {
    const r = compileRouter([route("t", { template: "/users/:id" })]);
    expect(matchedId(r, "/users/")).toBe("not-found");
    expect(matchedId(r, "/users")).toBe("not-found");
    expect(matchedId(r, "/Users/1")).toBe("not-found");
    expect(matchedId(r, "/users/1")).toBe("t");
  });

  it("returns the payload and the route spec", () => {
    const result = router.match("GET", "example.com", "/api", {});
    expect(result.kind === "matched" && result.route.payload).toBe("payload-api-prefix");
  });
});

describe("hosts", () => {
  const router = compileRouter([
    route("exact-host", { prefix: "/" }, { hosts: ["API.example.com"] }),
    route("wildcard", { prefix: "/" }, { hosts: ["*.example.com"] }),
    route("deep-wildcard", { prefix: "/" }, { hosts: ["*.eu.example.com"] }),
    route("other-path-any-host", { exact: "/status" }),
  ]);

  it.each([
    ["api.example.com", "/x", "exact-host"],
    ["API.Example.COM", "/x", "exact-host"],
    ["www.example.com", "/x", "wildcard"],
    ["a.b.example.com", "/x", "wildcard"],
    ["shop.eu.example.com", "/x", "wildcard"],
    ["example.com", "/x", "not-found"],
    ["notexample.com", "/x", "not-found"],
    ["xexample.com", "/x", "not-found"],
    ["other.org", "/status", "other-path-any-host"],
    ["api.example.com", "/status", "other-path-any-host"],
  ])("%s %s → %s", (host, path, id) => {
    expect(matchedId(router, path, "GET", host)).toBe(id);
  });

  it("uses declaration order between host-specific routes, hosts only filter", () => {
    const r = compileRouter([
      route("wild", { prefix: "/" }, { hosts: ["*.example.com"] }),
      route("exact", { prefix: "/" }, { hosts: ["api.example.com"] }),
    ]);
    expect(matchedId(r, "/", "GET", "api.example.com")).toBe("wild");
  });

  it("matches a route listing several hosts on each", () => {
    const r = compileRouter([route("multi", { exact: "/" }, { hosts: ["a.test", "*.b.test"] })]);
    expect(matchedId(r, "/", "GET", "a.test")).toBe("multi");
    expect(matchedId(r, "/", "GET", "x.b.test")).toBe("multi");
    expect(matchedId(r, "/", "GET", "c.test")).toBe("not-found");
  });
});

describe("methods", () => {
  const router = compileRouter([
    route("get-user", { template: "/users/:id" }, { methods: ["get"] }),
    route("put-user", { template: "/users/:id" }, { methods: ["PUT", "PATCH"] }),
    route(
      "admin-delete",
      { template: "/users/:id" },
      {
        methods: ["DELETE"],
        headers: [{ name: "X-Admin", exact: "yes" }],
      },
    ),
    route("any", { exact: "/any" }),
  ]);

  it("matches the route for the method", () => {
    expect(matchedId(router, "/users/1", "GET")).toBe("get-user");
    expect(matchedId(router, "/users/1", "PATCH")).toBe("put-user");
    expect(matchedId(router, "/any", "BREW")).toBe("any");
  });

  it("answers 405 with the sorted, de-duplicated Allow of routes matching host, path and headers", () => {
    expect(router.match("POST", "h", "/users/1", {})).toEqual({
      kind: "method-not-allowed",
      allow: ["GET", "PATCH", "PUT"],
    });
    expect(router.match("POST", "h", "/users/1", { "x-admin": "yes" })).toEqual({
      kind: "method-not-allowed",
      allow: ["DELETE", "GET", "PATCH", "PUT"],
    });
  });

  it("does not imply HEAD from GET", () => {
    expect(router.match("HEAD", "h", "/users/1", {}).kind).toBe("method-not-allowed");
  });

  it("answers not-found, not 405, when no route matches the path", () => {
    expect(router.match("POST", "h", "/nothing", {})).toEqual({ kind: "not-found" });
  });

  it("falls through to a lower route that allows the method before answering 405", () => {
    const r = compileRouter([
      route("specific", { template: "/a/:x" }, { methods: ["GET"] }),
      route("catch-all", { prefix: "/a" }),
    ]);
    expect(matchedId(r, "/a/1", "POST")).toBe("catch-all");
  });
});

describe("header predicates", () => {
  const router = compileRouter([
    route("exact", { prefix: "/" }, { headers: [{ name: "X-Version", exact: "2" }], priority: 4 }),
    route("regex", { prefix: "/" }, { headers: [{ name: "x-version", regex: "1\\.[0-9]+" }], priority: 3 }),
    route("present", { prefix: "/" }, { headers: [{ name: "x-beta" }], priority: 2 }),
    route("absent", { prefix: "/" }, { headers: [{ name: "authorization", present: false }], priority: 1 }),
    route("fallback", { prefix: "/" }),
  ]);

  it.each<[RequestHeaders, string]>([
    [{ "x-version": "2" }, "exact"],
    [{ "x-version": "20" }, "absent"],
    [{ "x-version": "1.5" }, "regex"],
    [{ "x-version": "v1.5" }, "absent"],
    [{ "x-version": "1.5x" }, "absent"],
    [{ "x-version": ["9", "2"] }, "exact"],
    [{ "x-beta": "" }, "present"],
    [{ authorization: "Bearer x" }, "fallback"],
    [{ authorization: "Bearer x", "x-beta": "1" }, "present"],
    [{}, "absent"],
  ])("%j → %s", (headers, id) => {
    expect(matchedId(router, "/x", "GET", "h", headers)).toBe(id);
  });

  it("takes Node's IncomingHttpHeaders as they are", () => {
    const incoming: IncomingHttpHeaders = { "x-version": "2", "set-cookie": ["a=1"] };
    expect(matchedId(router, "/x", "GET", "h", incoming)).toBe("exact");
  });

  it("requires every predicate of a route", () => {
    const r = compileRouter([
      route("both", { prefix: "/" }, { headers: [{ name: "a", exact: "1" }, { name: "b" }] }),
    ]);
    expect(matchedId(r, "/", "GET", "h", { a: "1" })).toBe("not-found");
    expect(matchedId(r, "/", "GET", "h", { a: "1", b: "2" })).toBe("both");
  });

  it("does not take inherited properties of a plain headers object for headers", () => {
    const r = compileRouter([
      route("needs-ctor", { prefix: "/" }, { headers: [{ name: "constructor" }] }),
      route("regex-ctor", { prefix: "/" }, { headers: [{ name: "toString", regex: ".*" }] }),
    ]);
    expect(matchedId(r, "/", "GET", "h", {})).toBe("not-found");
  });
});

describe("params", () => {
  const router = compileRouter([
    route("orders", { template: "/users/:userId/orders/:orderId" }),
    route("files", { template: "/files/:bucket/*" }),
    route("proto", { template: "/p/:__proto__" }),
    route("bad-fallback", { prefix: "/fallback" }),
    route("decode", { template: "/fallback/:name" }, { priority: 1 }),
  ]);

  it("extracts and percent-decodes template params", () => {
    expect(router.match("GET", "h", "/users/j%C3%B6rg/orders/a%20b", {})).toEqual({
      kind: "matched",
      route: expect.objectContaining({ id: "orders" }),
      params: { userId: "jörg", orderId: "a b" },
    });
  });

  it("captures the rest as params['*']", () => {
    const result = router.match("GET", "h", "/files/b1/a/b%20c/d", {});
    expect(result.kind === "matched" && { ...result.params }).toEqual({ bucket: "b1", "*": "a/b c/d" });
    const empty = router.match("GET", "h", "/files/b1/", {});
    expect(empty.kind === "matched" && { ...empty.params }).toEqual({ bucket: "b1", "*": "" });
  });

  it("keeps a parameter named __proto__ an own property", () => {
    const result = router.match("GET", "h", "/p/x", {});
    expect(result.kind === "matched" && Object.hasOwn(result.params, "__proto__")).toBe(true);
    expect(
      result.kind === "matched" && Object.getOwnPropertyDescriptor(result.params, "__proto__")?.value,
    ).toBe("x");
  });

  it("treats a route whose params do not decode (invalid UTF-8) as not matching", () => {
    expect(matchedId(router, "/fallback/ok", "GET")).toBe("decode");
    expect(matchedId(router, "/fallback/%FF", "GET")).toBe("bad-fallback");
    const only = compileRouter([route("t", { template: "/t/:x" })]);
    expect(only.match("GET", "h", "/t/%C3", {})).toEqual({ kind: "not-found" });
  });

  it("gives exact and prefix routes empty params", () => {
    const result = router.match("GET", "h", "/fallback", {});
    expect(result.kind === "matched" && Object.keys(result.params)).toEqual([]);
  });
});

describe("configuration errors", () => {
  it.each<[string, Spec[], string]>([
    ["duplicate ids", [route("a", { exact: "/" }), route("a", { exact: "/x" })], 'route "a": duplicate id'],
    ["empty id", [route("", { exact: "/" })], "routes[0]: id must be a non-empty string"],
    ["empty hosts", [route("a", { exact: "/" }, { hosts: [] })], 'route "a": hosts is empty'],
    ["bad host", [route("a", { exact: "/" }, { hosts: ["a.*.com"] })], 'route "a": bad host "a.*.com"'],
    ["bare wildcard", [route("a", { exact: "/" }, { hosts: ["*"] })], 'route "a": bad host "*"'],
    ["host with path", [route("a", { exact: "/" }, { hosts: ["a.com/x"] })], 'bad host "a.com/x"'],
    ["empty methods", [route("a", { exact: "/" }, { methods: [] })], "methods is empty"],
    ["bad method", [route("a", { exact: "/" }, { methods: ["G ET"] })], 'bad method "G ET"'],
    [
      "bad regex",
      [route("a", { exact: "/" }, { headers: [{ name: "x", regex: "(" }] })],
      'route "a": header "x": bad regex',
    ],
    [
      "escaping regex",
      [route("a", { exact: "/" }, { headers: [{ name: "x", regex: "a)|(b" }] })],
      "bad regex",
    ],
    [
      "exact and regex",
      [route("a", { exact: "/" }, { headers: [{ name: "x", exact: "1", regex: "1" }] })],
      "not both",
    ],
    ["bad header name", [route("a", { exact: "/" }, { headers: [{ name: "x y" }] })], 'header name "x y"'],
    [
      "bad template name",
      [route("a", { template: "/u/:1d" })],
      'route "a": path.template: "/u/:1d": bad parameter name ":1d"',
    ],
    ["duplicate param", [route("a", { template: "/u/:id/:id" })], "appears twice"],
    ["rest not last", [route("a", { template: "/u/*/x" })], '"*" is only allowed as the last segment'],
    ["star in literal", [route("a", { template: "/u/x*" })], '"*" is only allowed as a whole last segment'],
    ["dot segment", [route("a", { template: "/u/../:x" })], 'dot segment ".."'],
    ["empty segment", [route("a", { template: "/u//:x" })], "empty segment"],
    ["template without slash", [route("a", { template: "u/:x" })], 'must start with "/"'],
    ["unnormalized exact", [route("a", { exact: "/caf%c3%a9" })], 'write "/caf%C3%A9"'],
    ["exact with query", [route("a", { exact: "/a?b" })], 'must not contain "?"'],
    ["prefix with dots", [route("a", { prefix: "/a/./b" })], 'path.prefix: "/a/./b" is not normalized'],
    [
      "bad path shape",
      [route("a", { exact: "/", prefix: "/" } as unknown as Spec["path"])],
      "exactly one of",
    ],
    [
      "non-finite priority",
      [route("a", { exact: "/" }, { priority: Number.NaN })],
      "priority must be a finite number",
    ],
  ])("%s", (_name, routes, message) => {
    expect(configError(routes)).toContain(message);
  });

  it("lists every problem at once", () => {
    const message = configError([route("a", { exact: "x" }), route("b", { template: "/:" })]);
    expect(message).toContain('route "a"');
    expect(message).toContain('route "b"');
  });

  it("accepts a prefix with a trailing slash as the same prefix", () => {
    const r = compileRouter([route("a", { prefix: "/api/" })]);
    expect(matchedId(r, "/api")).toBe("a");
    expect(matchedId(r, "/api/x")).toBe("a");
  });
});

describe("routeMatchSchema", () => {
  it("parses the matching part of a route strictly", () => {
    expect(routeMatchSchema.safeParse({ path: { prefix: "/" }, methods: ["GET"] }).success).toBe(true);
    expect(routeMatchSchema.safeParse({ path: { prefix: "/" }, method: ["GET"] }).success).toBe(false);
    expect(routeMatchSchema.safeParse({ path: { prefixx: "/" } }).success).toBe(false);
  });

  it("can be extended with the gateway's own route fields", () => {
    const schema = routeMatchSchema.extend({ id: routeMatchSchema.shape.path.options[0].shape.exact });
    expect(schema.safeParse({ id: "r", path: { exact: "/" } }).success).toBe(true);
  });
});
