import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { isGatewayError } from "../src/chain/gateway-error.js";
import { corsLayer } from "../src/cors/cors-layer.js";
import type { CorsOptions } from "../src/cors/cors-options.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const app = "https://app.example.com";

function preflight(origin: string, method: string, requestHeaders?: string): ReturnType<typeof fakeExchange> {
  const headers: IncomingHttpHeaders = { origin, "access-control-request-method": method };
  if (requestHeaders !== undefined) headers["access-control-request-headers"] = requestHeaders;
  return fakeExchange({ method: "OPTIONS", headers });
}

async function run(options: CorsOptions, exchange: ReturnType<typeof fakeExchange>) {
  const next = fixedNext();
  const response = await corsLayer(options).handle(exchange, next);
  return { response, next, headers: exchange.responseHeaders };
}

function problemCode(body: Buffer | undefined): unknown {
  return JSON.parse(body!.toString()).code;
}

describe("corsLayer preflight", () => {
  it("answers an allowed preflight itself with 204 and the Access-Control-Allow-* headers", async () => {
    const { response, next } = await run(
      { origins: [app], methods: ["GET", "put"], allowHeaders: ["Content-Type", "X-Trace"], maxAge: "10m" },
      preflight(app, "PUT", "content-type, x-trace"),
    );
    expect(next.calls).toBe(0);
    expect(response.status).toBe(204);
    expect(response.body).toBeUndefined();
    expect(response.headers).toMatchObject({
      "access-control-allow-origin": app,
      "access-control-allow-methods": "GET, PUT",
      "access-control-allow-headers": "content-type, x-trace",
      "access-control-max-age": "600",
    });
    expect(response.headers.vary).toContain("Origin");
    expect(response.headers.vary).toContain("Access-Control-Request-Headers");
    expect(response.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("refuses a preflight from an origin not in the list with a 403 problem", async () => {
    const { response, next } = await run({ origins: [app] }, preflight("https://evil.example.net", "GET"));
    expect(next.calls).toBe(0);
    expect(response.status).toBe(403);
    expect(problemCode(response.body)).toBe("FLT_GATEWAY_CORS_REJECTED");
    expect(response.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("refuses a method outside `methods` and a header outside `allowHeaders`", async () => {
    const options: CorsOptions = { origins: [app], methods: ["GET", "POST"], allowHeaders: ["content-type"] };
    const method = await run(options, preflight(app, "DELETE"));
    expect(method.response.status).toBe(403);
    expect(problemCode(method.response.body)).toBe("FLT_GATEWAY_CORS_REJECTED");
    const header = await run(options, preflight(app, "POST", "content-type,x-secret"));
    expect(header.response.status).toBe(403);
    expect(JSON.parse(header.response.body!.toString()).detail).toContain("x-secret");
    const fine = await run(options, preflight(app, "POST", "Content-Type"));
    expect(fine.response.status).toBe(204);
  });

  it("echoes the requested method and headers when they are allowed by `*`, which also covers authorization", async () => {
    const { response } = await run(
      { origins: "*", methods: "*", allowHeaders: "*" },
      preflight(app, "PATCH", "authorization, x-custom"),
    );
    expect(response.status).toBe(204);
    expect(response.headers["access-control-allow-origin"]).toBe("*");
    expect(response.headers["access-control-allow-methods"]).toBe("PATCH");
    expect(response.headers["access-control-allow-headers"]).toBe("authorization, x-custom");
  });

  it("treats OPTIONS without Access-Control-Request-Method as an ordinary request", async () => {
    const exchange = fakeExchange({ method: "OPTIONS", headers: { origin: app } });
    const { response, next, headers } = await run({ origins: [app] }, exchange);
    expect(next.calls).toBe(1);
    expect(response.status).toBe(200);
    expect(headers["access-control-allow-origin"]).toBe(app);
  });
});

describe("corsLayer origins", () => {
  const wildcard: CorsOptions = { origins: ["https://*.example.com", "http://localhost:5173"] };

  it.each([
    ["https://app.example.com", true],
    ["https://a.b.example.com", true],
    ["https://APP.Example.com", true],
    ["http://localhost:5173", true],
    ["https://example.com", false],
    ["http://app.example.com", false],
    ["https://app.example.com.evil.net", false],
    ["https://evilexample.com", false],
    ["https://app.example.com:8443", false],
    ["http://localhost:5174", false],
    ["null", false],
  ])("%s allowed: %s", async (origin, allowed) => {
    const { headers, next } = await run(wildcard, fakeExchange({ headers: { origin } }));
    expect(next.calls).toBe(1);
    expect(headers["access-control-allow-origin"]).toBe(allowed ? origin : undefined);
    expect(headers.vary).toBe("Origin");
  });

  it("refuses invalid origin patterns at construction", () => {
    for (const bad of [
      "https://app.example.com/",
      "app.example.com",
      "https://*example.com",
      "https://a.*.com",
      "https://example.com:443",
    ]) {
      let error: unknown;
      try {
        corsLayer({ origins: [bad] });
      } catch (caught) {
        error = caught;
      }
      expect(isGatewayError(error) && error.code).toBe("FLT_GATEWAY_CONFIG_INVALID");
    }
    expect(() => corsLayer({ origins: [app], credentials: true, exposeHeaders: "*" })).toThrow(
      /exposeHeaders/,
    );
    expect(() => corsLayer({ origins: [app], maxage: 5 } as CorsOptions)).toThrow(
      /cors\.maxage: unknown option/,
    );
  });
});

describe("corsLayer actual requests", () => {
  it("adds the origin, credentials, exposed headers and Vary: Origin for an allowed origin", async () => {
    const exchange = fakeExchange({
      method: "POST",
      headers: { origin: app },
      responseHeaders: { vary: "Accept" },
    });
    const { headers, next } = await run(
      { origins: [app], credentials: true, exposeHeaders: ["X-Request-Id", "RateLimit"] },
      exchange,
    );
    expect(next.calls).toBe(1);
    expect(headers).toEqual({
      vary: "Accept, Origin",
      "access-control-allow-origin": app,
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "x-request-id, ratelimit",
    });
  });

  it("echoes the origin instead of * when credentials are allowed for any origin", async () => {
    const actual = await run({ origins: "*", credentials: true }, fakeExchange({ headers: { origin: app } }));
    expect(actual.headers["access-control-allow-origin"]).toBe(app);
    expect(actual.headers.vary).toBe("Origin");
    const pre = await run({ origins: "*", credentials: true }, preflight(app, "GET"));
    expect(pre.response.headers["access-control-allow-origin"]).toBe(app);
    expect(pre.response.headers["access-control-allow-credentials"]).toBe("true");
  });

  it("answers * without Vary when any origin is allowed without credentials", async () => {
    const { headers } = await run({ origins: "*" }, fakeExchange({ headers: { origin: app } }));
    expect(headers).toEqual({ "access-control-allow-origin": "*" });
  });

  it("passes a disallowed origin through without CORS headers", async () => {
    const { headers, next, response } = await run(
      { origins: [app], credentials: true },
      fakeExchange({ headers: { origin: "https://evil.example.net" } }),
    );
    expect(next.calls).toBe(1);
    expect(response.status).toBe(200);
    expect(headers).toEqual({ vary: "Origin" });
  });

  it("adds no CORS headers to a request without Origin, only Vary when the answer depends on it", async () => {
    const listed = await run({ origins: [app] }, fakeExchange());
    expect(listed.next.calls).toBe(1);
    expect(listed.headers).toEqual({ vary: "Origin" });
    const star = await run({ origins: "*" }, fakeExchange());
    expect(star.headers).toEqual({});
  });

  it("does not repeat Origin in an existing Vary", async () => {
    const exchange = fakeExchange({ headers: { origin: app }, responseHeaders: { vary: "origin" } });
    const { headers } = await run({ origins: [app] }, exchange);
    expect(headers.vary).toBe("origin");
  });
});
