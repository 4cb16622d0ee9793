import { BreakerOpenError, DeadlineExceededError, TimeoutError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import {
  RemoteServiceError,
  ServiceBadResponseError,
  ServiceConnectionError,
  ServiceNoInstanceError,
} from "../src/client/service-client-error.js";
import { currentRequestScope, type RequestScope } from "../src/context/request-scope.js";
import { Database } from "../src/database/database.js";
import { defineService } from "../src/server/define-service.js";
import type { HandlerContext } from "../src/server/handler-context.js";
import { problem } from "../src/server/service-error.js";
import { type ServiceServer, serviceServer } from "../src/server/service-server.js";
import type { ServiceServerOptions } from "../src/server/service-server-options.js";
import { inventory, type LogLine, testLogger, testMetrics } from "./fixtures/inventory-service.js";

interface Seen {
  input?: unknown;
  ctx?: HandlerContext;
  scope?: RequestScope | undefined;
}

const servers: ServiceServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

function start(
  handlers: Partial<Parameters<typeof defineService<typeof inventory>>[0]["handlers"]> = {},
  options: ServiceServerOptions = {},
) {
  const seen: Seen = {};
  const lines: LogLine[] = [];
  const service = defineService({
    contract: inventory,
    handlers: {
      async reserve(input, ctx) {
        seen.input = input;
        seen.ctx = ctx;
        seen.scope = currentRequestScope();
        return { reservationId: `r-${input.params.sku}`, quantity: input.body.quantity };
      },
      async stock(input) {
        seen.input = input;
        return [{ sku: input.query.sku ?? "ABC-1", available: input.query.limit }];
      },
      async release() {
        return undefined;
      },
      async adjust(input) {
        return { sku: input.params.sku, available: input.body.delta };
      },
      ...handlers,
    },
  });
  const server = serviceServer(service, {
    logger: testLogger(lines).logger,
    metrics: testMetrics(),
    ...options,
  });
  servers.push(server);
  return { server, seen, lines };
}

const json = { "content-type": "application/json" };

describe("service server: requests", () => {
  it("parses a valid request, runs the handler and answers with the route's status", async () => {
    const { server, seen } = start();
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-12",
      headers: json,
      payload: { quantity: 3, extra: "dropped" },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ reservationId: "r-ABC-12", quantity: 3 });
    expect(seen.input).toEqual({ params: { sku: "ABC-12" }, query: {}, body: { quantity: 3 } });
  });

  it("applies query schemas (coercion, defaults)", async () => {
    const { server, seen } = start();
    const res = await server.app.inject({ method: "GET", url: "/stock?limit=7" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([{ sku: "ABC-1", available: 7 }]);
    const other = await server.app.inject({ method: "GET", url: "/stock" });
    expect(other.json()).toEqual([{ sku: "ABC-1", available: 10 }]);
    expect(seen.input).toEqual({ params: {}, query: { limit: 10 }, body: undefined });
  });

  it("answers a 204 route with no body", async () => {
    const { server } = start();
    const res = await server.app.inject({ method: "DELETE", url: "/reservations/r-1" });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
  });

  it.each([
    {
      name: "a bad path parameter",
      url: "/reservations/abc",
      payload: { quantity: 1 },
      paths: ["params.sku"],
    },
    { name: "a missing body field", url: "/reservations/ABC-1", payload: {}, paths: ["body.quantity"] },
    {
      name: "a wrong type",
      url: "/reservations/ABC-1",
      payload: { quantity: "3" },
      paths: ["body.quantity"],
    },
    {
      name: "a number out of range",
      url: "/reservations/ABC-1",
      payload: { quantity: -1 },
      paths: ["body.quantity"],
    },
    {
      name: "several parts at once",
      url: "/reservations/x",
      payload: { quantity: 1.5, note: "x".repeat(30) },
      paths: ["params.sku", "body.quantity", "body.note"],
    },
    { name: "a body that is not an object", url: "/reservations/ABC-1", payload: [1, 2], paths: ["body"] },
  ])("answers 400 problem+json listing each failing path: $name", async ({ url, payload, paths }) => {
    const { server, seen } = start();
    const res = await server.app.inject({ method: "POST", url, headers: json, payload });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({
      type: "https://flotilla.dev/problems/flt-service-validation",
      title: "Invalid request",
      status: 400,
      code: "FLT_SERVICE_VALIDATION",
    });
    expect(typeof body.detail).toBe("string");
    expect(body.issues.map((i: { path: string }) => i.path)).toEqual(paths);
    for (const issue of body.issues) expect(issue.message).toEqual(expect.any(String));
    expect(seen.input).toBeUndefined();
  });

  it("answers 400 for a query out of range and a missing body", async () => {
    const { server } = start();
    const query = await server.app.inject({ method: "GET", url: "/stock?limit=1000" });
    expect(query.statusCode).toBe(400);
    expect(query.json().issues[0].path).toBe("query.limit");
    const noBody = await server.app.inject({ method: "POST", url: "/reservations/ABC-1" });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().issues.map((i: { path: string }) => i.path)).toEqual(["body"]);
  });

  it.each([
    {
      name: "a text/plain body",
      headers: { "content-type": "text/plain" },
      payload: "quantity=1",
      status: 415,
      code: "FLT_SERVICE_UNSUPPORTED_MEDIA_TYPE",
    },
    {
      name: "a form body",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "quantity=1",
      status: 415,
      code: "FLT_SERVICE_UNSUPPORTED_MEDIA_TYPE",
    },
    {
      name: "malformed JSON",
      headers: json,
      payload: '{"quantity": 1',
      status: 400,
      code: "FLT_SERVICE_MALFORMED_BODY",
    },
    {
      name: "an empty JSON body",
      headers: json,
      payload: "",
      status: 400,
      code: "FLT_SERVICE_MALFORMED_BODY",
    },
    {
      name: "a prototype-poisoning body",
      headers: json,
      payload: '{"quantity": 1, "__proto__": {"admin": true}}',
      status: 400,
      code: "FLT_SERVICE_MALFORMED_BODY",
    },
    {
      name: "a body over the limit",
      headers: json,
      payload: JSON.stringify({ quantity: 1, note: "x".repeat(2000) }),
      status: 413,
      code: "FLT_SERVICE_BODY_TOO_LARGE",
    },
  ])("answers $status problem+json for $name, never a 500", async ({ headers, payload, status, code }) => {
    const { server, seen } = start({}, { limits: { bodyLimit: 1024 } });
    const res = await server.app.inject({ method: "POST", url: "/reservations/ABC-1", headers, payload });
    expect(res.statusCode).toBe(status);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      status,
      code,
      type: expect.stringContaining("https://flotilla.dev/problems/"),
    });
    expect(seen.input).toBeUndefined();
  });

  it("answers 404 problem+json for an unknown route or method", async () => {
    const { server } = start();
    for (const [method, url] of [
      ["GET", "/nope"],
      ["PUT", "/stock"],
    ] as const) {
      const res = await server.app.inject({ method, url });
      expect(res.statusCode).toBe(404);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 404, code: "FLT_SERVICE_ROUTE_NOT_FOUND" });
    }
  });

  it("answers 500 problem+json for a handler that throws, without its message, and logs it", async () => {
    const { server, lines } = start({
      async reserve() {
        throw new Error("secret connection string in here");
      },
    });
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(500);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 500, code: "FLT_SERVICE_INTERNAL" });
    expect(res.body).not.toContain("secret");
    const logged = lines.find((l) => l.msg === "request failed");
    expect(logged).toMatchObject({ level: "error", route: "reserve", code: "FLT_SERVICE_INTERNAL" });
    expect(JSON.stringify(logged)).toContain("secret connection string");
  });

  it("answers a thrown ServiceError with its status, code, headers and extensions", async () => {
    const { server, lines } = start({
      async reserve({ params }) {
        throw problem(409, "out of stock", {
          code: "INVENTORY_OUT_OF_STOCK",
          headers: { "retry-after": "5" },
          extensions: { sku: params.sku },
        });
      },
    });
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(409);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.json()).toEqual({
      type: "https://flotilla.dev/problems/inventory-out-of-stock",
      title: "Conflict",
      status: 409,
      detail: "out of stock",
      code: "INVENTORY_OUT_OF_STOCK",
      sku: "ABC-1",
      service: "inventory",
      instance: server.instanceId,
    });
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
  });

  const downstreamProblem = {
    type: "https://flotilla.dev/problems/flt-service-internal",
    title: "Internal server error",
    status: 500,
    code: "FLT_SERVICE_INTERNAL",
    detail: "the request failed with an internal error",
    service: "pricing",
    instance: "pricing-1",
  };
  it.each([
    {
      error: new RemoteServiceError({
        service: "pricing",
        instance: "pricing-1",
        status: 500,
        remoteCode: "FLT_SERVICE_INTERNAL",
        problem: downstreamProblem,
      }),
      status: 502,
      code: "FLT_SERVICE_REMOTE",
      cause: downstreamProblem,
    },
    { error: new ServiceNoInstanceError("pricing", "^1.0.0"), status: 503, code: "FLT_SERVICE_NO_INSTANCE" },
    {
      error: new ServiceConnectionError(
        "pricing",
        "pricing-1",
        Object.assign(new Error("refused"), { code: "ECONNREFUSED" }),
      ),
      status: 502,
      code: "FLT_SERVICE_CONNECTION",
    },
    {
      error: new ServiceBadResponseError({
        service: "pricing",
        route: "quote",
        status: 200,
        reason: "not JSON",
      }),
      status: 502,
      code: "FLT_SERVICE_BAD_RESPONSE",
    },
    { error: new BreakerOpenError("pricing", "OPEN", 1_000), status: 503, code: "FLT_BREAKER_OPEN" },
    { error: new DeadlineExceededError("spent"), status: 504, code: "FLT_DEADLINE_EXCEEDED" },
    { error: new TimeoutError(250), status: 504, code: "FLT_TIMEOUT" },
  ])("answers $code escaping a handler with $status problem+json", async ({ error, status, code, cause }) => {
    const { server } = start({
      async reserve() {
        throw error;
      },
    });
    for (const headers of [json, { ...json, "idempotency-key": "k-1" }]) {
      const res = await server.app.inject({
        method: "POST",
        url: "/reservations/ABC-1",
        headers,
        payload: { quantity: 1 },
      });
      expect(res.statusCode).toBe(status);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const body = res.json();
      expect(body).toMatchObject({ status, code, service: "inventory", instance: server.instanceId });
      if (cause !== undefined) expect(body.cause).toEqual(cause);
    }
  });

  it("checks the handler's answer against the response schema when asked", async () => {
    const bad = {
      async reserve() {
        return { reservationId: 42 } as unknown as { reservationId: string; quantity: number };
      },
    };
    const strict = start(bad, { limits: { validateResponses: true } });
    const res = await strict.server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(500);
    expect(res.json().code).toBe("FLT_SERVICE_RESPONSE_INVALID");
    const issues = strict.lines.find((l) => l.msg.includes("response schema"))?.issues;
    expect(issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: "reservationId" })]));

    const lax = start(bad, { limits: { validateResponses: false } });
    const sent = await lax.server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(sent.statusCode).toBe(201);
    expect(sent.json()).toEqual({ reservationId: 42 });
  });

  it("answers 500 FLT_SERVICE_NO_DATABASE when a service without a database uses ctx.db", async () => {
    const { server } = start({
      async reserve(_input, ctx) {
        await ctx.db.query("SELECT 1");
        return { reservationId: "x", quantity: 1 };
      },
    });
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(500);
    expect(res.json().code).toBe("FLT_SERVICE_NO_DATABASE");
  });

  it("gives handlers ctx.db as the Database facade, with transaction()", async () => {
    const { server, seen } = start({
      async reserve(_input, ctx) {
        seen.ctx = ctx;
        await ctx.db
          .transaction(async () => undefined)
          .catch((error: unknown) => {
            seen.input = (error as { code?: string }).code;
          });
        const { rows } = await ctx.db.query<{ n: number }>("SELECT $1::int AS n", [7]);
        return { reservationId: "x", quantity: rows[0]!.n };
      },
    });
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(500);
    expect(seen.ctx?.db).toBeInstanceOf(Database);
    expect(seen.input).toBe("FLT_SERVICE_NO_DATABASE");

    const queried: unknown[] = [];
    const stub = start(
      {
        async reserve(_input, ctx) {
          const { rows } = await ctx.db.query<{ n: number }>("SELECT $1::int AS n", [7]);
          return { reservationId: "x", quantity: rows[0]!.n };
        },
      },
      {
        db: {
          // biome-ignore lint/suspicious/noExplicitAny: a stub of pg's generic query.
          query: async (text: string, values?: readonly unknown[]): Promise<any> => {
            queried.push([text, values]);
            return { rows: [{ n: 7 }], rowCount: 1 };
          },
        },
      },
    );
    const ok = await stub.server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(ok.json()).toEqual({ reservationId: "x", quantity: 7 });
    expect(queried).toEqual([["SELECT $1::int AS n", [7]]]);
  });
});

describe("service server: deadlines", () => {
  const wall = 1_700_000_000_000;

  it("sets ctx.deadline and the request scope from x-flotilla-timeout-ms, capped by maxTimeout", async () => {
    const { server, seen } = start({}, { now: () => wall, limits: { maxTimeout: "2s" } });
    await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: {
        ...json,
        "x-flotilla-timeout-ms": "750",
        "x-flotilla-caller": "orders/orders-1",
        "idempotency-key": "k",
      },
      payload: { quantity: 1 },
    });
    expect(seen.ctx?.deadline).toBe(wall + 750);
    expect(seen.ctx?.caller).toBe("orders/orders-1");
    expect(seen.ctx?.idempotencyKey).toBe("k");
    expect(seen.scope?.deadline).toBe(wall + 750);
    expect(seen.scope?.caller).toBe("orders/orders-1");
    expect(seen.scope?.signal).toBe(seen.ctx?.signal);
    expect(seen.ctx?.signal.aborted).toBe(false);

    await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: { ...json, "x-flotilla-timeout-ms": "60000" },
      payload: { quantity: 1 },
    });
    expect(seen.ctx?.deadline).toBe(wall + 2000);
  });

  it("leaves the deadline unset without the header, or applies defaultTimeout", async () => {
    const unbounded = start({}, { now: () => wall });
    await unbounded.server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(unbounded.seen.ctx?.deadline).toBeUndefined();
    expect(unbounded.seen.scope?.deadline).toBeUndefined();
    const bounded = start({}, { now: () => wall, limits: { defaultTimeout: "3s" } });
    await bounded.server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(bounded.seen.ctx?.deadline).toBe(wall + 3000);
  });

  it("answers 400 for a timeout header that is not a number of milliseconds", async () => {
    const { server, seen } = start();
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: { ...json, "x-flotilla-timeout-ms": "soon" },
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().issues).toEqual([
      { path: "headers.x-flotilla-timeout-ms", message: expect.any(String) },
    ]);
    expect(seen.input).toBeUndefined();
  });

  it("answers 504 at once for a request whose deadline is already spent", async () => {
    const { server, seen } = start();
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: { ...json, "x-flotilla-timeout-ms": "0" },
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(504);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 504, code: "FLT_DEADLINE_EXCEEDED" });
    expect(seen.input).toBeUndefined();
  });

  it("answers 504 and aborts ctx.signal when the deadline passes while the handler runs", async () => {
    const clock = new FakeClock();
    let signal: AbortSignal | undefined;
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const { server } = start(
      {
        reserve(_input, ctx) {
          signal = ctx.signal;
          entered();
          return new Promise((_resolve, reject) => {
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
          });
        },
      },
      { clock },
    );
    const pending = server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: { ...json, "x-flotilla-timeout-ms": "500" },
      payload: { quantity: 1 },
    });
    await inHandler;
    expect(signal?.aborted).toBe(false);
    await clock.advance(499);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    const res = await pending;
    expect(res.statusCode).toBe(504);
    expect(res.json().code).toBe("FLT_DEADLINE_EXCEEDED");
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toMatchObject({ code: "FLT_DEADLINE_EXCEEDED" });
    expect(server.inFlight).toBe(0);
  });
});

describe("service server: built-in endpoints", () => {
  it("serves /openapi.json, /health/live, /health/ready and /metrics", async () => {
    const { server } = start();
    const openapi = await server.app.inject({ method: "GET", url: "/openapi.json" });
    expect(openapi.statusCode).toBe(200);
    expect(openapi.json()).toMatchObject({
      openapi: "3.1.0",
      info: { title: "inventory", version: "1.2.0" },
    });

    expect((await server.app.inject({ method: "GET", url: "/health/live" })).statusCode).toBe(200);
    const starting = await server.app.inject({ method: "GET", url: "/health/ready" });
    expect(starting.statusCode).toBe(503);
    expect(starting.json()).toMatchObject({ status: "starting" });
    server.health.markReady();
    const ready = await server.app.inject({ method: "GET", url: "/health/ready" });
    expect(ready.statusCode).toBe(200);
    expect(ready.headers["content-type"]).toMatch(/^application\/health\+json/);
    server.health.drain();
    expect((await server.app.inject({ method: "GET", url: "/health/ready" })).json()).toMatchObject({
      status: "draining",
    });

    const metrics = await server.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain("http_server_request_duration_seconds");
  });

  it("answers 503 FLT_SERVICE_SHUTTING_DOWN with connection: close once it stops accepting", async () => {
    const { server, seen } = start();
    server.stopAccepting();
    const res = await server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: json,
      payload: { quantity: 1 },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers.connection).toBe("close");
    expect(res.json().code).toBe("FLT_SERVICE_SHUTTING_DOWN");
    expect(seen.input).toBeUndefined();
    expect((await server.app.inject({ method: "GET", url: "/health/live" })).statusCode).toBe(200);
  });
});
