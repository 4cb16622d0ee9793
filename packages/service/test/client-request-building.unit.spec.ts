import { ConfigReader, FlotillaError } from "@flotilla/resilience";
import { describe, expect, expectTypeOf, it } from "vitest";
import { parseDependencyPolicies } from "../src/client/dependency-policies.js";
import { pathTemplate } from "../src/client/path-template.js";
import { queryString } from "../src/client/query-string.js";
import { remoteProblem } from "../src/client/remote-problem.js";
import {
  isRemoteServiceError,
  RemoteServiceError,
  ServiceBadResponseError,
  ServiceClientErrorCode,
} from "../src/client/service-client-error.js";
import type { ClientsOf, ServiceClients } from "../src/client/service-clients.js";
import type { inventoryContract } from "./client-fixtures.js";

describe("pathTemplate", () => {
  it("returns a template without parameters as it is", () => {
    expect(pathTemplate("/stock").build(undefined)).toBe("/stock");
    expect(pathTemplate("/").build({})).toBe("/");
  });

  it("encodes each parameter with encodeURIComponent", () => {
    const t = pathTemplate("/reservations/:sku/items/:id");
    expect(t.params).toEqual(["sku", "id"]);
    expect(t.build({ sku: "a/b c", id: 7 })).toBe("/reservations/a%2Fb%20c/items/7");
    expect(t.build({ sku: "é?#%", id: true })).toBe("/reservations/%C3%A9%3F%23%25/items/true");
  });

  it("reads parameters separated by - and ., a literal ::, and ignores a parameter's regular expression", () => {
    expect(pathTemplate("/flights/:from-:to").build({ from: "LHR", to: "CDG" })).toBe("/flights/LHR-CDG");
    expect(pathTemplate("/files/:name.:ext").build({ name: "a b", ext: "pdf" })).toBe("/files/a%20b.pdf");
    expect(pathTemplate("/time/::hour").build({})).toBe("/time/:hour");
    expect(pathTemplate("/users/:id(^\\d+)/posts").build({ id: 42 })).toBe("/users/42/posts");
    expect(pathTemplate("/x/:a(^(a|b)$)/y").build({ a: "a" })).toBe("/x/a/y");
  });

  it("keeps the slashes of a wildcard and leaves out an absent optional last parameter", () => {
    expect(pathTemplate("/files/*").build({ "*": "a b/c.txt" })).toBe("/files/a%20b/c.txt");
    const optional = pathTemplate("/orders/:id?");
    expect(optional.build({ id: "7" })).toBe("/orders/7");
    expect(optional.build({})).toBe("/orders");
  });

  it("reports the first missing or unusable parameter instead of sending `undefined`", () => {
    const t = pathTemplate("/a/:x/b/:y");
    expect(t.build({ x: "1" })).toEqual({ missing: "y" });
    expect(t.build({ x: { nested: true }, y: 1 })).toEqual({ missing: "x" });
    expect(t.build(undefined)).toEqual({ missing: "x" });
  });
});

describe("queryString", () => {
  it("is empty for no query or only undefined values", () => {
    expect(queryString(undefined)).toBe("");
    expect(queryString({})).toBe("");
    expect(queryString({ a: undefined })).toBe("");
  });

  it("encodes keys and values, repeats arrays, and writes dates, objects and null", () => {
    expect(
      queryString({
        "a b": "x&y=z",
        n: 1.5,
        t: true,
        list: ["p", undefined, "q r"],
        when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
        filter: { min: 1 },
        empty: null,
      }),
    ).toBe(
      "?a%20b=x%26y%3Dz&n=1.5&t=true&list=p&list=q%20r&when=2024-01-02T03%3A04%3A05.000Z&filter=%7B%22min%22%3A1%7D&empty=",
    );
  });
});

describe("remoteProblem", () => {
  const base = { service: "inventory", instance: "inv-1", retryAfter: undefined };

  it("reads an RFC 9457 problem with its cause chain, one RemoteServiceError per hop", () => {
    const error = remoteProblem(
      {
        ...base,
        status: 502,
        contentType: "application/problem+json; charset=utf-8",
        body: JSON.stringify({
          type: "about:blank",
          title: "Bad Gateway",
          code: "FLT_SERVICE_REMOTE",
          cause: {
            title: "Timeout",
            status: 504,
            service: "warehouse",
            cause: { title: "db down", code: "PG" },
          },
        }),
      },
      Date.now,
    );
    expect(error).toMatchObject({
      service: "inventory",
      instance: "inv-1",
      status: 502,
      title: "Bad Gateway",
    });
    const hop = error.cause as RemoteServiceError;
    expect(hop).toMatchObject({ service: "warehouse", status: 504, title: "Timeout", instance: undefined });
    // A hop that names no service or status inherits the one before it.
    expect(hop.cause).toMatchObject({ service: "warehouse", status: 504, remoteCode: "PG" });
  });

  it("keeps at most eight hops of a cause chain", () => {
    let problem: Record<string, unknown> = { title: "root" };
    for (let i = 0; i < 20; i++) problem = { title: `hop ${i}`, cause: problem };
    let error: unknown = remoteProblem(
      { ...base, status: 500, contentType: "application/problem+json", body: JSON.stringify(problem) },
      Date.now,
    );
    let depth = 0;
    while (isRemoteServiceError(error)) {
      depth++;
      error = error.cause;
    }
    expect(depth).toBe(9);
  });

  it("takes the start of a body that is not a problem, and reads Retry-After", () => {
    const error = remoteProblem(
      {
        ...base,
        status: 503,
        contentType: "text/html",
        retryAfter: "2",
        body: `  <h1>down</h1>${"x".repeat(500)}`,
      },
      Date.now,
    );
    expect(error.detail).toHaveLength(200);
    expect(error.detail?.startsWith("<h1>down</h1>")).toBe(true);
    expect(error.retryAfterMs).toBe(2_000);
    expect(error.problem).toBeUndefined();
    const http = remoteProblem(
      { ...base, status: 503, contentType: "application/json", body: "{oops", retryAfter: undefined },
      Date.now,
    );
    expect(http.detail).toBe("{oops");
  });
});

describe("errors", () => {
  it("are recognised by code across package copies", () => {
    const foreign = new FlotillaError(ServiceClientErrorCode.Remote, "from another copy");
    expect(foreign).toBeInstanceOf(RemoteServiceError);
    expect(isRemoteServiceError(foreign)).toBe(true);
    expect(foreign).not.toBeInstanceOf(ServiceBadResponseError);
  });
});

describe("parseDependencyPolicies", () => {
  const routes = ["reserve", "stock"];
  const parse = (raw: unknown) => {
    const reader = new ConfigReader();
    const resolved = parseDependencyPolicies(raw, reader, "p", routes);
    return { resolved, issues: reader.issues };
  };

  it("applies the defaults: a 10 s timeout and nothing else", () => {
    const { resolved, issues } = parse(undefined);
    expect(issues).toEqual([]);
    expect(resolved).toMatchObject({
      timeoutMs: 10_000,
      retry: undefined,
      breaker: undefined,
      fallback: undefined,
    });
  });

  it("reads durations, retry, fallbacks and route overrides", () => {
    const { resolved, issues } = parse({
      timeout: "2s",
      attemptTimeout: 500,
      retry: { maxAttempts: 4, backoff: { type: "exponential", initialDelay: "50ms" }, retry500: true },
      fallback: { type: "stale-cache", ttl: "5m" },
      routes: {
        reserve: { fallback: { type: "none" } },
        stock: { fallback: { type: "service", service: "x" } },
      },
    });
    expect(issues).toEqual([]);
    expect(resolved.timeoutMs).toBe(2_000);
    expect(resolved.attemptTimeoutMs).toBe(500);
    expect(resolved.retry?.retry500).toBe(true);
    expect(resolved.fallback).toEqual({ type: "stale-cache", ttl: 300_000, maxEntries: undefined });
    expect(resolved.routeFallbacks.get("reserve")).toBeNull();
    expect(resolved.routeFallbacks.get("stock")).toEqual({
      type: "service",
      service: "x",
      versions: undefined,
    });
  });

  it("reports every problem at its path, including options the client sets itself", () => {
    const { issues } = parse({
      timeot: "1s",
      retry: { maxAttempts: 1.5, retryOn: () => true },
      breaker: { name: "mine" },
      rateLimit: { limitForPeriod: 0 },
      fallback: { type: "maybe" },
      routes: { stock: { fallback: { type: "stale-cache" } }, reserve: { retry: {} } },
    });
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        "p.timeot",
        "p.retry.maxAttempts",
        "p.retry.retryOn",
        "p.breaker.name",
        "p.rateLimit.limitForPeriod",
        "p.fallback.type",
        "p.routes.stock.fallback.ttl",
        "p.routes.reserve.retry",
      ]),
    );
  });
});

describe("ClientsOf", () => {
  it("types each dependency's client from its contract, under the name the caller gave it", () => {
    type Deps = { stockService: { contract: typeof inventoryContract; versions: "^1.0.0" } };
    type Clients = ClientsOf<Deps>;
    expectTypeOf<Awaited<ReturnType<Clients["stockService"]["stock"]>>>().toEqualTypeOf<{
      items: { sku: string; available: number }[];
    }>();
    expectTypeOf<Parameters<Clients["stockService"]["reserve"]>[0]["body"]>().toEqualTypeOf<{
      quantity: number;
    }>();
    expectTypeOf<ServiceClients<Deps>["clients"]>().toEqualTypeOf<Clients>();
    const misuse = (clients: Clients) => {
      // @ts-expect-error: quantity must be a number
      void clients.stockService.reserve({ params: { sku: "a" }, body: { quantity: "2" } });
      // @ts-expect-error: no such dependency
      void clients.inventory;
    };
    expectTypeOf(misuse).toBeFunction();
  });
});
