import { describe, expect, it } from "vitest";
import type { InstanceRecord } from "../src/registration.js";
import { formatPath, parseRegistrationRequest } from "../src/registration-schema.js";
import {
  RegistryError,
  RegistryInvalidRequestError,
  RegistryUnknownLeaseError,
} from "../src/registry-error.js";
import { HttpProblem, isHttpProblem, problemType } from "../src/server/http-problem.js";
import { InstanceQueryParser, matchesQuery } from "../src/server/instance-query.js";
import { kvKeyProblem } from "../src/server/kv-key.js";
import { matchRoute } from "../src/server/route-table.js";

describe("registration schema", () => {
  it("converts duration strings to milliseconds and keeps what was given", () => {
    const parsed = parseRegistrationRequest({
      service: "orders",
      id: "orders-1",
      address: "10.0.0.7",
      port: 8080,
      version: "2.0.0-rc.1+build.5",
      checks: [{ type: "http", url: "https://10.0.0.7:8080/ready", intervalMs: "5s", timeoutMs: 250 }],
      ttlMs: "30s",
    });
    expect(parsed).toEqual({
      ok: true,
      request: {
        service: "orders",
        id: "orders-1",
        address: "10.0.0.7",
        port: 8080,
        version: "2.0.0-rc.1+build.5",
        checks: [{ type: "http", url: "https://10.0.0.7:8080/ready", intervalMs: 5000, timeoutMs: 250 }],
        ttlMs: 30_000,
      },
    });
  });

  it("names every bad field by path at once", () => {
    const parsed = parseRegistrationRequest({
      service: "-bad",
      id: "ok",
      address: "h",
      port: 1.5,
      checks: [{ type: "tcp" }, { type: "http", url: "ftp://x", intervalMs: "soon" }],
      metadata: { k: 1 },
    });
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(["service", "port", "checks[1].url", "checks[1].intervalMs", "metadata.k"]),
    );
  });

  it("formats paths with indexes in brackets", () => {
    expect(formatPath(["checks", 0, "url"])).toBe("checks[0].url");
    expect(formatPath([])).toBe("");
    expect(formatPath([2, "a"])).toBe("[2].a");
  });
});

describe("instance filters", () => {
  const parser = new InstanceQueryParser();
  const record = (version: string, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
    id: version,
    service: "s",
    address: "h",
    port: 1,
    version,
    weight: 1,
    tags: ["a", "b"],
    metadata: {},
    status: "passing",
    checks: [],
    lease: "l",
    ttlMs: 1000,
    registeredAt: 0,
    modifyIndex: 1,
    ...extra,
  });
  const match = (query: string, r: InstanceRecord) => {
    const issues: { path: string; message: string }[] = [];
    const q = parser.parse(new URLSearchParams(query), issues);
    expect(issues).toEqual([]);
    return matchesQuery(q, r);
  };

  it("matches semver ranges including prereleases", () => {
    expect(match("version=^1.2", record("1.4.0"))).toBe(true);
    expect(match("version=^1.2", record("2.0.0"))).toBe(false);
    expect(match("version=>=2 <3", record("2.1.0-beta.1"))).toBe(true);
    expect(match("version=~1.4", record("1.4.9"))).toBe(true);
  });

  it("selects passing and warning by default, exact statuses or any on request", () => {
    expect(match("", record("1.0.0", { status: "warning" }))).toBe(true);
    expect(match("", record("1.0.0", { status: "critical" }))).toBe(false);
    expect(match("status=passing", record("1.0.0", { status: "warning" }))).toBe(false);
    expect(match("status=any", record("1.0.0", { status: "critical" }))).toBe(true);
  });

  it("requires every tag and the zone", () => {
    expect(match("tag=a&tag=b", record("1.0.0"))).toBe(true);
    expect(match("tag=a&tag=c", record("1.0.0"))).toBe(false);
    expect(match("zone=z1", record("1.0.0", { zone: "z1" }))).toBe(true);
    expect(match("zone=z1", record("1.0.0"))).toBe(false);
  });

  it("gives equal filters equal keys whatever the tag order", () => {
    const issues: { path: string; message: string }[] = [];
    const a = parser.parse(new URLSearchParams("tag=b&tag=a&version=^1"), issues);
    const b = parser.parse(new URLSearchParams("version=^1&tag=a&tag=b"), issues);
    expect(a.key).toBe(b.key);
    parser.parse(new URLSearchParams("version=nonsense&status=ill"), issues);
    expect(issues.map((i) => i.path)).toEqual(["version", "status"]);
  });
});

describe("KV keys", () => {
  it.each([
    ["app/config", undefined],
    ["a.b_c~d-e/f", undefined],
    ["", "must not be empty"],
    ["/abs", "must not start with /"],
    ["a/../b", 'must not contain a ".." segment'],
    ["..", 'must not contain a ".." segment'],
    ["a b", "only A-Z a-z 0-9 . _ ~ / - are allowed"],
    ["x".repeat(513), "at most 512 characters, got 513"],
  ])("%s → %s", (key, problem) => {
    expect(kvKeyProblem(key)).toBe(problem);
  });
});

describe("routes", () => {
  it("matches every route and decodes its parameters", () => {
    expect(matchRoute("/v1/instances")?.name).toBe("register");
    expect(matchRoute("/v1/instances/orders/orders-1")).toMatchObject({
      name: "deregister",
      params: ["orders", "orders-1"],
    });
    expect(matchRoute("/v1/leases/abc%2Fd/renew")).toMatchObject({ name: "renew", params: ["abc/d"] });
    expect(matchRoute("/v1/services")?.name).toBe("services");
    expect(matchRoute("/v1/services/orders")).toMatchObject({
      name: "service",
      template: "/v1/services/{service}",
    });
    expect(matchRoute("/v1/services/orders/stream")?.name).toBe("serviceStream");
    expect(matchRoute("/v1/kv/a/b/c")).toMatchObject({ name: "kvKey", params: ["a/b/c"] });
    expect(matchRoute("/v1/kv")?.name).toBe("kvList");
    expect(matchRoute("/v1/kv-stream")?.name).toBe("kvStream");
    for (const path of ["/openapi.json", "/health", "/metrics"]) expect(matchRoute(path)).toBeDefined();
  });

  it("matches nothing for other shapes and throws on bad encodings", () => {
    for (const path of [
      "/",
      "/v1",
      "/v1/instances/a",
      "/v1/instances//b",
      "/v1/services/a/b",
      "/v2/services",
    ]) {
      expect(matchRoute(path), path).toBeUndefined();
    }
    expect(() => matchRoute("/v1/services/%E0%A4%A")).toThrow(URIError);
  });
});

describe("problems", () => {
  it("maps errors to problem answers", () => {
    expect(
      HttpProblem.from(new RegistryInvalidRequestError([{ path: "port", message: "bad" }])),
    ).toMatchObject({
      status: 400,
      issues: [{ path: "port", message: "bad" }],
    });
    expect(HttpProblem.from(new RegistryUnknownLeaseError("l")).status).toBe(404);
    expect(HttpProblem.from(new RegistryError("FLT_REGISTRY_STORE_UNAVAILABLE", "down")).status).toBe(503);
    expect(HttpProblem.from(new TypeError("bug")).toJSON()).toMatchObject({
      status: 500,
      code: "FLT_REGISTRY_INTERNAL",
    });
    expect(isHttpProblem(new RegistryUnknownLeaseError("l"))).toBe(false);
    expect(problemType("FLT_REGISTRY_LIMIT_EXCEEDED")).toBe(
      "https://flotilla.dev/problems/flt-registry-limit-exceeded",
    );
    expect(HttpProblem.limit(429, "slow down", 1500).headers["retry-after"]).toBe("2");
  });
});
