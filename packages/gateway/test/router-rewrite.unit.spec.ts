import { describe, expect, it } from "vitest";
import { GatewayErrorCode } from "../src/chain/gateway-error.js";
import { type RewriteOptions, rewriteOptionsSchema, rewriteTarget } from "../src/router/rewrite.js";

describe("rewriteTarget prefix", () => {
  it.each<[from: string, to: string, path: string, query: string, expected: string]>([
    ["/api", "/", "/api/users", "?a=1", "/users?a=1"],
    ["/api", "/", "/api", "", "/"],
    ["/api", "/", "/api/", "", "/"],
    ["/api/", "/v1/", "/api/x", "", "/v1/x"],
    ["/api", "/v1", "/api", "?q", "/v1?q"],
    ["/api", "/internal/api", "/api/a/b", "", "/internal/api/a/b"],
    ["/", "/base", "/x/y", "", "/base/x/y"],
    ["/", "/base", "/", "", "/base/"],
    ["/api", "/v1", "/apix/y", "?q", "/apix/y?q"],
    ["/api", "/v1", "/other", "", "/other"],
  ])("%s → %s: %s%s becomes %s", (from, to, path, query, expected) => {
    expect(rewriteTarget({ prefix: { from, to } })(path, query, {})).toBe(expected);
  });
});

describe("rewriteTarget template", () => {
  const rewrite = rewriteTarget(
    { template: "/v2/users/{id}/orders/{orderId}" },
    { routeId: "orders", path: { template: "/users/:id/orders/:orderId" } },
  );

  it("fills placeholders with encodeURIComponent and keeps the query", () => {
    expect(rewrite("/users/42/orders/7", "?x=1", { id: "42", orderId: "7" })).toBe(
      "/v2/users/42/orders/7?x=1",
    );
    expect(rewrite("/", "", { id: "a b/c?d#e", orderId: "jörg" })).toBe(
      "/v2/users/a%20b%2Fc%3Fd%23e/orders/j%C3%B6rg",
    );
    expect(rewrite("/", "", { id: "x\r\nHost: evil", orderId: "1" })).toBe(
      "/v2/users/x%0D%0AHost%3A%20evil/orders/1",
    );
  });

  it("refuses values that would make a dot segment, are missing, or cannot be encoded", () => {
    expect(rewrite("/", "", { id: "..", orderId: "1" })).toBeUndefined();
    expect(rewrite("/", "", { id: ".", orderId: "1" })).toBeUndefined();
    expect(rewrite("/", "", { id: "1", orderId: ".." })).toBeUndefined();
    expect(rewrite("/", "", { id: "...", orderId: "a.b" })).toBe("/v2/users/.../orders/a.b");
    expect(rewrite("/", "", { id: "1" })).toBeUndefined();
    expect(rewrite("/", "", { id: "\ud800", orderId: "1" })).toBeUndefined();
  });

  it("does not read placeholders from the params' prototype", () => {
    const r = rewriteTarget({ template: "/x/{constructor}" });
    expect(r("/", "", {})).toBeUndefined();
  });

  it("encodes a rest placeholder segment by segment", () => {
    const r = rewriteTarget({ template: "/store/{*}" }, { path: { template: "/files/*" } });
    expect(r("/", "?v", { "*": "a b/c/d" })).toBe("/store/a%20b/c/d?v");
    expect(r("/", "", { "*": "" })).toBe("/store/");
    expect(r("/", "", { "*": "a/../b" })).toBeUndefined();
    expect(r("/", "", { "*": "a/" })).toBe("/store/a/");
    // Only reachable when encoded slashes are let through and decoded into the rest.
    expect(r("/", "", { "*": "/a" })).toBeUndefined();
    expect(r("/", "", { "*": "a//b" })).toBeUndefined();
  });

  it("allows placeholders inside a segment", () => {
    const r = rewriteTarget({ template: "/v2/u-{id}.json" });
    expect(r("/", "", { id: "7" })).toBe("/v2/u-7.json");
  });
});

describe("rewriteTarget host and identity", () => {
  it("carries a validated host and leaves the target alone without path options", () => {
    const r = rewriteTarget({ host: "users.internal:8080" });
    expect(r.host).toBe("users.internal:8080");
    expect(r("/a/b", "?c", {})).toBe("/a/b?c");
    expect(rewriteTarget({}).host).toBeUndefined();
    expect(rewriteTarget({ host: "[::1]:80" }).host).toBe("[::1]:80");
  });
});

describe("rewriteTarget configuration errors", () => {
  it.each<[string, RewriteOptions, string]>([
    ["host with CRLF", { host: "a\r\nX-Evil: 1" }, 'route "r": rewrite.host'],
    ["host with path", { host: "a/b" }, "rewrite.host"],
    ["host with space", { host: "a b" }, "rewrite.host"],
    ["prefix and template", { prefix: { from: "/a", to: "/b" }, template: "/c" }, "not both"],
    ["unknown placeholder", { template: "/v2/{nope}" }, '"{nope}" is not a parameter'],
    ["bad placeholder", { template: "/v2/{a-b}" }, 'bad placeholder "{a-b}"'],
    ["unmatched brace", { template: "/v2/{id" }, 'unmatched "{"'],
    ["unmatched close", { template: "/v2/id}" }, 'unmatched "}"'],
    ["template not absolute", { template: "v2/{id}" }, 'must be a normalized path starting with "/"'],
    ["template with dots", { template: "/v2/../{id}" }, "must be a normalized path"],
    ["bad prefix from", { prefix: { from: "api", to: "/" } }, "prefix.from"],
    ["bad prefix to", { prefix: { from: "/api", to: "/a b" } }, "prefix.to"],
  ])("%s", (_name, options, message) => {
    let error: unknown;
    try {
      rewriteTarget(options, { routeId: "r", path: { template: "/users/:id" } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: GatewayErrorCode.ConfigInvalid });
    expect((error as Error).message).toContain(message);
  });

  it("allows no placeholders on an exact or prefix route", () => {
    expect(() => rewriteTarget({ template: "/v2/{id}" }, { path: { prefix: "/users" } })).toThrow(
      /not a parameter/,
    );
    expect(rewriteTarget({ template: "/v2" }, { path: { prefix: "/users" } })("/users/1", "?a", {})).toBe(
      "/v2?a",
    );
  });

  it("parses its options strictly", () => {
    expect(rewriteOptionsSchema.safeParse({ prefix: { from: "/a", to: "/" } }).success).toBe(true);
    expect(rewriteOptionsSchema.safeParse({ prefx: { from: "/a", to: "/" } }).success).toBe(false);
    expect(rewriteOptionsSchema.safeParse({ prefix: { from: "/a" } }).success).toBe(false);
  });
});
