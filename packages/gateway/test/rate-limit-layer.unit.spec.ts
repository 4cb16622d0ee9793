import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { Exchange } from "../src/chain/exchange.js";
import { GatewayError, GatewayErrorCode, isGatewayError } from "../src/chain/gateway-error.js";
import type { GatewayLogger } from "../src/chain/gateway-logger.js";
import type { GatewayResponse } from "../src/chain/gateway-response.js";
import type { Identity } from "../src/chain/identity.js";
import type { Next } from "../src/chain/layer.js";
import { memoryRateLimitBackend } from "../src/rate-limit/memory-rate-limit-backend.js";
import type { RateLimitBackend } from "../src/rate-limit/rate-limit-backend.js";
import { type RateLimitLayerOptions, rateLimitLayer } from "../src/rate-limit/rate-limit-layer.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

function setup(options: Omit<RateLimitLayerOptions, "backend"> & { backend?: RateLimitBackend }) {
  const clock = new FakeClock();
  const backend = options.backend ?? memoryRateLimitBackend({ clock, maxKeys: 1_000 });
  const layer = rateLimitLayer({ clock, ...options, backend });
  return { clock, backend, layer };
}

function body(response: GatewayResponse): Record<string, unknown> {
  return JSON.parse(response.body!.toString("utf8")) as Record<string, unknown>;
}

function identity(consumer: string): Identity {
  return { subject: consumer, consumer, roles: [], scopes: [], method: "api-key", claims: {} };
}

/** Sends `count` requests from `init` and returns their statuses. */
async function statuses(
  layer: { handle(exchange: Exchange, next: Next): Promise<GatewayResponse> },
  count: number,
  init: Parameters<typeof fakeExchange>[0] = {},
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await layer.handle(fakeExchange(init), fixedNext())).status);
  return out;
}

const perIp = { name: "perip", rule: { limit: 3, period: "1m" } } as const;

describe("rateLimitLayer", () => {
  it("is named rate-limit and puts both headers on the exchange before calling next", async () => {
    const { layer } = setup({ policies: [perIp] });
    expect(layer.name).toBe("rate-limit");
    const exchange = fakeExchange();
    let seen: Record<string, string> | undefined;
    const response = await layer.handle(exchange, async () => {
      seen = { ...exchange.responseHeaders };
      return fixedNext()();
    });
    expect(response.status).toBe(200);
    // 3 per minute: one permit every 20 s, so the bucket is full again 20 s after one request.
    expect(seen).toEqual({ "ratelimit-policy": '"perip";q=3;w=60', ratelimit: '"perip";r=2;t=20' });
  });

  it("answers 429 with Retry-After and the headers once the limit is spent, without calling next", async () => {
    const { layer, clock } = setup({ policies: [perIp] });
    expect(await statuses(layer, 3)).toEqual([200, 200, 200]);
    const next = fixedNext();
    const exchange = fakeExchange();
    const response = await layer.handle(exchange, next);
    expect(next.calls).toBe(0);
    expect(response.status).toBe(429);
    expect(response.headers).toMatchObject({
      "ratelimit-policy": '"perip";q=3;w=60',
      ratelimit: '"perip";r=0;t=20',
      "retry-after": "20",
      "content-type": "application/problem+json",
    });
    expect(exchange.responseHeaders.ratelimit).toBe('"perip";r=0;t=20');
    expect(body(response)).toMatchObject({
      status: 429,
      code: GatewayErrorCode.RateLimited,
      "violated-policies": ["perip"],
    });
    expect(layer.stats()).toEqual({ allowed: 3, limited: 1, backendErrors: 0 });

    await clock.advance(19_999);
    expect((await layer.handle(fakeExchange(), fixedNext())).headers["retry-after"]).toBe("1");
    await clock.advance(1);
    expect(await statuses(layer, 2)).toEqual([200, 429]);
  });

  it("rounds Retry-After up to whole seconds", async () => {
    const { layer } = setup({ policies: [{ name: "fast", rule: { limit: 3, period: "10s" } }] });
    await statuses(layer, 3);
    // One permit every 3333.3 ms.
    const response = await layer.handle(fakeExchange(), fixedNext());
    expect(response.headers["retry-after"]).toBe("4");
    expect(response.headers.ratelimit).toBe('"fast";r=0;t=4');
  });

  it("keeps one bucket per client address and per route", async () => {
    const { layer } = setup({ policies: [{ name: "one", rule: { limit: 1, period: "1m" } }] });
    expect(await statuses(layer, 2, { clientIp: "10.0.0.1" })).toEqual([200, 429]);
    expect(await statuses(layer, 2, { clientIp: "10.0.0.2" })).toEqual([200, 429]);
    expect(await statuses(layer, 2, { clientIp: "10.0.0.1", routeId: "other" })).toEqual([200, 429]);
  });

  it("uses the token bucket when the rule asks for it", async () => {
    const { layer, clock } = setup({
      policies: [{ name: "tb", rule: { algorithm: "token-bucket", limit: 2, period: "1s", burst: 4 } }],
    });
    expect(await statuses(layer, 5)).toEqual([200, 200, 200, 200, 429]);
    await clock.advance(500);
    expect(await statuses(layer, 2)).toEqual([200, 429]);
  });

  it("reports whole seconds despite float noise in the refill rate", async () => {
    const { layer } = setup({
      policies: [{ name: "tb", rule: { algorithm: "token-bucket", limit: 4, period: "1h" } }],
    });
    const exchange = fakeExchange();
    await layer.handle(exchange, fixedNext());
    // 1 / (4 / 3600000) is 900000.0000000001 ms.
    expect(exchange.responseHeaders.ratelimit).toBe('"tb";r=3;t=900');
  });

  it("keys a header policy by the header's value, falling back to the client address", async () => {
    const { layer } = setup({
      policies: [{ name: "tenant", rule: { limit: 2, period: "1m" }, key: { header: "X-Tenant" } }],
    });
    const acme = { headers: { "x-tenant": "acme" } };
    expect(await statuses(layer, 1, { ...acme, clientIp: "10.0.0.1" })).toEqual([200]);
    expect(await statuses(layer, 2, { ...acme, clientIp: "10.0.0.2" })).toEqual([200, 429]);
    expect(await statuses(layer, 2, { headers: { "x-tenant": "globex" } })).toEqual([200, 200]);
    // Without the header: per address, and never the bucket of a tenant named like that address.
    expect(await statuses(layer, 2, { headers: { "x-tenant": "10.0.0.9" } })).toEqual([200, 200]);
    expect(await statuses(layer, 3, { clientIp: "10.0.0.9" })).toEqual([200, 200, 429]);
    expect(await statuses(layer, 1, { clientIp: "10.0.0.8" })).toEqual([200]);
  });

  it("keys a consumer policy by the authenticated consumer, falling back to the client address", async () => {
    const { layer } = setup({
      policies: [{ name: "perconsumer", rule: { limit: 2, period: "1m" }, key: "consumer" }],
    });
    expect(await statuses(layer, 1, { identity: identity("alice"), clientIp: "10.0.0.1" })).toEqual([200]);
    expect(await statuses(layer, 2, { identity: identity("alice"), clientIp: "10.0.0.2" })).toEqual([
      200, 429,
    ]);
    expect(await statuses(layer, 2, { identity: identity("bob"), clientIp: "10.0.0.1" })).toEqual([200, 200]);
    expect(await statuses(layer, 3, { clientIp: "10.0.0.1" })).toEqual([200, 200, 429]);
    expect(await statuses(layer, 1, { clientIp: "10.0.0.2" })).toEqual([200]);
  });

  it("keys a route policy by nothing but the route", async () => {
    const { layer } = setup({
      policies: [{ name: "global", rule: { limit: 2, period: "1m" }, key: "route" }],
    });
    expect(await statuses(layer, 1, { clientIp: "10.0.0.1" })).toEqual([200]);
    expect(await statuses(layer, 2, { clientIp: "10.0.0.2" })).toEqual([200, 429]);
  });

  it("with several policies reports all of them and answers with the most restrictive refusal", async () => {
    const { layer, clock } = setup({
      policies: [
        { name: "burst", rule: { limit: 2, period: "1s" } },
        { name: "hourly", rule: { limit: 3, period: "1h" } },
      ],
    });
    const first = fakeExchange();
    await layer.handle(first, fixedNext());
    expect(first.responseHeaders).toEqual({
      "ratelimit-policy": '"burst";q=2;w=1, "hourly";q=3;w=3600',
      ratelimit: '"burst";r=1;t=1, "hourly";r=2;t=1200',
    });
    await layer.handle(fakeExchange(), fixedNext());

    // Only "burst" refuses; "hourly" still gives (and keeps) its last permit.
    let response = await layer.handle(fakeExchange(), fixedNext());
    expect(response.status).toBe(429);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.headers.ratelimit).toBe('"burst";r=0;t=1, "hourly";r=0;t=3600');
    expect(body(response)["violated-policies"]).toEqual(["burst"]);

    await clock.advance(1_000);
    response = await layer.handle(fakeExchange(), fixedNext());
    expect(response.headers.ratelimit).toBe('"burst";r=1;t=1, "hourly";r=0;t=1199');
    expect(body(response)["violated-policies"]).toEqual(["hourly"]);
    await layer.handle(fakeExchange(), fixedNext());

    // Both refuse: "hourly" asks to wait longest and answers.
    response = await layer.handle(fakeExchange(), fixedNext());
    expect(response.status).toBe(429);
    expect(response.headers["retry-after"]).toBe("1199");
    expect(body(response)["violated-policies"]).toEqual(["burst", "hourly"]);
    expect(body(response).detail).toContain('"hourly"');
    expect(layer.stats()).toEqual({ allowed: 2, limited: 4, backendErrors: 0 });
  });

  it("works the same with a backend that answers with promises", async () => {
    const clock = new FakeClock();
    const memory = memoryRateLimitBackend({ clock, maxKeys: 100 });
    const backend: RateLimitBackend = {
      take: async (key, rule, permits) => memory.take(key, rule, permits),
      close: () => memory.close(),
    };
    const single = rateLimitLayer({ backend, clock, policies: [perIp] });
    expect(await statuses(single, 4)).toEqual([200, 200, 200, 429]);
    const double = rateLimitLayer({
      backend,
      clock,
      policies: [
        { name: "a", rule: { limit: 1, period: "1m" }, key: "route" },
        { name: "b", rule: { limit: 5, period: "1m" } },
      ],
    });
    expect(await statuses(double, 2, { routeId: "r2" })).toEqual([200, 429]);
  });

  describe("when the backend fails", () => {
    function failingBackend(mode: "throw" | "reject"): RateLimitBackend {
      const error = new GatewayError(GatewayErrorCode.Unavailable, "redis is down");
      return {
        take() {
          if (mode === "throw") throw error;
          return Promise.reject(error);
        },
        close: async () => {},
      };
    }

    function recordingLogger(): GatewayLogger & { warnings: object[] } {
      const warnings: object[] = [];
      return { warnings, info() {}, error() {}, debug() {}, warn: (obj) => warnings.push(obj) };
    }

    it.each(["throw", "reject"] as const)(
      "fails open by default (%s), counting and warning once per 10 s",
      async (mode) => {
        const logger = recordingLogger();
        const { layer, clock } = setup({ policies: [perIp], backend: failingBackend(mode), logger });
        const exchange = fakeExchange();
        const next = fixedNext();
        expect((await layer.handle(exchange, next)).status).toBe(200);
        expect(next.calls).toBe(1);
        expect(exchange.responseHeaders).toEqual({ "ratelimit-policy": '"perip";q=3;w=60' });
        await statuses(layer, 2);
        expect(layer.stats()).toEqual({ allowed: 3, limited: 0, backendErrors: 3 });
        expect(logger.warnings).toHaveLength(1);
        expect(logger.warnings[0]).toMatchObject({
          layer: "rate-limit",
          routeId: "test-route",
          suppressed: 0,
        });
        await clock.advance(10_000);
        await statuses(layer, 1);
        expect(logger.warnings).toHaveLength(2);
        expect(logger.warnings[1]).toMatchObject({ suppressed: 2 });
      },
    );

    it("fails closed with 503 and Retry-After 1 when configured to deny", async () => {
      const { layer } = setup({
        policies: [perIp],
        backend: failingBackend("reject"),
        onBackendError: "deny",
      });
      const next = fixedNext();
      const response = await layer.handle(fakeExchange(), next);
      expect(next.calls).toBe(0);
      expect(response.status).toBe(503);
      expect(response.headers["retry-after"]).toBe("1");
      expect(body(response).code).toBe(GatewayErrorCode.Unavailable);
      expect(layer.stats()).toEqual({ allowed: 0, limited: 0, backendErrors: 1 });
    });

    it("still answers 429 when another policy refuses", async () => {
      const clock = new FakeClock();
      const memory = memoryRateLimitBackend({ clock, maxKeys: 100 });
      const backend: RateLimitBackend = {
        take: (key, rule, permits) => {
          if (key.includes("\u0000flaky\u0000")) return Promise.reject(new Error("timeout"));
          return memory.take(key, rule, permits);
        },
        close: async () => {},
      };
      const layer = rateLimitLayer({
        backend,
        clock,
        onBackendError: "deny",
        policies: [
          { name: "flaky", rule: { limit: 100, period: "1s" } },
          { name: "strict", rule: { limit: 1, period: "1m" } },
        ],
      });
      expect((await layer.handle(fakeExchange(), fixedNext())).status).toBe(503);
      const response = await layer.handle(fakeExchange(), fixedNext());
      expect(response.status).toBe(429);
      expect(response.headers.ratelimit).toBe('"strict";r=0;t=60');
      expect(layer.stats()).toEqual({ allowed: 0, limited: 1, backendErrors: 2 });
    });
  });

  it.each([
    [{ policies: [] }, "policies"],
    [{ policies: [perIp, perIp] }, "duplicate"],
    [{ policies: [{ ...perIp, name: 'bad"name' }] }, "name"],
    [{ policies: [{ ...perIp, key: "cookie" }] }, "key"],
    [{ policies: [{ ...perIp, key: { header: "bad header" } }] }, "header"],
    [{ policies: [perIp], onBackendError: "retry" }, "onBackendError"],
    [{ policies: [perIp], unknown: true }, "unknown"],
  ])("rejects the configuration %j naming %s", (config, field) => {
    let thrown: unknown;
    try {
      rateLimitLayer({
        ...(config as object),
        backend: memoryRateLimitBackend(),
      } as unknown as RateLimitLayerOptions);
    } catch (error) {
      thrown = error;
    }
    expect(isGatewayError(thrown)).toBe(true);
    expect((thrown as GatewayError).code).toBe(GatewayErrorCode.ConfigInvalid);
    expect((thrown as Error).message).toContain(field);
  });
});
