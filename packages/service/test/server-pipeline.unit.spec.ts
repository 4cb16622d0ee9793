import { gcraLimiter } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { defineService } from "../src/server/define-service.js";
import type { PipelineStep } from "../src/server/pipeline-step.js";
import { rateLimitStep } from "../src/server/rate-limit-step.js";
import { resolvePipeline } from "../src/server/request-pipeline.js";
import { problem } from "../src/server/service-error.js";
import { type ServiceServer, serviceServer } from "../src/server/service-server.js";
import { inventory, testLogger, testMetrics } from "./fixtures/inventory-service.js";

const servers: ServiceServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

function start(pipeline: PipelineStep[], log: string[]) {
  const service = defineService({
    contract: inventory,
    pipeline,
    handlers: {
      async reserve({ params, body }, ctx) {
        log.push(`handler:${String(ctx.state.user)}`);
        return { reservationId: params.sku, quantity: body.quantity };
      },
      async stock() {
        log.push("handler");
        return [];
      },
      async release() {
        return undefined;
      },
      async adjust({ params }) {
        return { sku: params.sku, available: 0 };
      },
    },
  });
  const server = serviceServer(service, { logger: testLogger().logger, metrics: testMetrics() });
  servers.push(server);
  return server;
}

/** A step that records itself and passes on, seeing whether the body was validated yet. */
function recorder(name: string, log: string[], extra: Partial<PipelineStep> = {}): PipelineStep {
  return {
    name,
    ...extra,
    async run(req, _ctx, next) {
      log.push(`${name}:${typeof (req.body as { quantity?: unknown } | undefined)?.quantity}`);
      const response = await next();
      log.push(`${name}:done:${response.status}`);
      return response;
    },
  };
}

const reserve = {
  method: "POST" as const,
  url: "/reservations/ABC-1",
  headers: { "content-type": "application/json" },
  payload: { quantity: 2 },
};

describe("request pipeline", () => {
  it("runs authentication → authorization → added steps → validation → rateLimit → handler in order", async () => {
    const log: string[] = [];
    const server = start(
      [
        recorder("rateLimit", log),
        recorder("audit", log, { before: "validation" }),
        {
          name: "authentication",
          async run(_req, ctx, next) {
            log.push("authentication");
            ctx.state.user = "ada";
            return next();
          },
        },
        recorder("authorization", log),
        recorder("timing", log, { after: "audit" }),
        recorder("last", log, { before: "handler" }),
      ],
      log,
    );
    expect(server.pipeline.names).toEqual([
      "authentication",
      "authorization",
      "audit",
      "timing",
      "validation",
      "rateLimit",
      "idempotency",
      "last",
      "handler",
    ]);
    const res = await server.app.inject(reserve);
    expect(res.statusCode).toBe(201);
    expect(log).toEqual([
      "authentication",
      "authorization:number",
      "audit:number",
      "timing:number",
      "rateLimit:number",
      "last:number",
      "handler:ada",
      "last:done:201",
      "rateLimit:done:201",
      "timing:done:201",
      "audit:done:201",
      "authorization:done:201",
    ]);
  });

  it("leaves empty positions out of the chain", () => {
    const server = start([], []);
    expect(server.pipeline.names).toEqual(["validation", "idempotency", "handler"]);
  });

  it.each([
    { status: 401, step: "authentication", reached: [] },
    { status: 403, step: "authorization", reached: ["authentication"] },
    { status: 429, step: "rateLimit", reached: ["authentication", "authorization"] },
  ])("lets $step end the request with $status problem+json", async ({ status, step, reached }) => {
    const log: string[] = [];
    const steps: PipelineStep[] = ["authentication", "authorization", "rateLimit"].map((name) => ({
      name,
      async run(_req, _ctx, next) {
        if (name === step) throw problem(status, `refused by ${name}`, { headers: { "x-step": name } });
        log.push(name);
        return next();
      },
    }));
    const server = start(steps, log);
    const res = await server.app.inject(reserve);
    expect(res.statusCode).toBe(status);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.headers["x-step"]).toBe(step);
    expect(res.json()).toMatchObject({ status, detail: `refused by ${step}` });
    expect(log).toEqual(reached);
  });

  it("runs authentication before validation, so an anonymous bad request gets 401, not 400", async () => {
    const server = start(
      [
        {
          name: "authentication",
          async run() {
            throw problem(401, "who are you?", { headers: { "www-authenticate": "Bearer" } });
          },
        },
      ],
      [],
    );
    const res = await server.app.inject({ ...reserve, payload: { quantity: "lots" } });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe("FLT_SERVICE_UNAUTHORIZED");
  });

  it("lets a step answer by itself without calling next()", async () => {
    const log: string[] = [];
    const server = start(
      [
        {
          name: "cache",
          before: "handler",
          async run() {
            return { status: 200, body: { cached: true }, headers: { "x-cache": "hit" } };
          },
        },
      ],
      log,
    );
    const res = await server.app.inject(reserve);
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-cache"]).toBe("hit");
    expect(res.json()).toEqual({ cached: true });
    expect(log).toEqual([]);
  });

  it("answers 500 when a step calls next() twice", async () => {
    const server = start(
      [
        {
          name: "twice",
          before: "handler",
          async run(_req, _ctx, next) {
            await next();
            return next();
          },
        },
      ],
      [],
    );
    const res = await server.app.inject(reserve);
    expect(res.statusCode).toBe(500);
  });

  it("rateLimitStep answers 429 with retry-after once the caller's permits are spent", async () => {
    const clock = new FakeClock();
    const server = start(
      [rateLimitStep({ limiter: gcraLimiter({ rate: 1, period: "10s", burst: 1, clock }) })],
      [],
    );
    const call = () =>
      server.app.inject({ ...reserve, headers: { ...reserve.headers, "x-flotilla-caller": "orders/o-1" } });
    expect((await call()).statusCode).toBe(201);
    expect((await call()).statusCode).toBe(201);
    const refused = await call();
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["retry-after"]).toBe("10");
    expect(refused.json().code).toBe("FLT_SERVICE_RATE_LIMITED");
    // Another caller has its own permits.
    const other = await server.app.inject({
      ...reserve,
      headers: { ...reserve.headers, "x-flotilla-caller": "cart/c-1" },
    });
    expect(other.statusCode).toBe(201);
    await clock.advance(10_000);
    expect((await call()).statusCode).toBe(201);
  });

  it.each([
    [[{ name: "validation", run: async () => ({ status: 200 }) }], "pipeline[0].name", "cannot be replaced"],
    [[{ name: "handler", run: async () => ({ status: 200 }) }], "pipeline[0].name", "cannot be replaced"],
    [[{ name: "audit", run: async () => ({ status: 200 }) }], "pipeline[0]", "needs before or after"],
    [
      [{ name: "audit", after: "nope", run: async () => ({ status: 200 }) }],
      "pipeline[0].after",
      'no step named "nope"',
    ],
    [
      [{ name: "audit", after: "handler", run: async () => ({ status: 200 }) }],
      "pipeline[0].after",
      "nothing runs after",
    ],
    [
      [
        { name: "authentication", run: async () => ({ status: 200 }) },
        { name: "authentication", run: async () => ({ status: 200 }) },
      ],
      "pipeline[1].name",
      "filled twice",
    ],
    [
      [
        { name: "audit", before: "validation", run: async () => ({ status: 200 }) },
        { name: "audit", before: "handler", run: async () => ({ status: 200 }) },
      ],
      "pipeline[1].name",
      "duplicate",
    ],
    [
      [{ name: "x", before: "handler", after: "validation", run: async () => ({ status: 200 }) }],
      "pipeline[0]",
      "both",
    ],
    [[{ name: "x", before: "handler" }], "pipeline[0].run", "expected a function"],
  ] as [PipelineStep[], string, string][])(
    "refuses a malformed pipeline at definition: %j",
    (steps, path, message) => {
      let error: unknown;
      try {
        resolvePipeline(steps);
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({ code: "FLT_CONFIG_INVALID" });
      expect((error as { issues: { path: string; message: string }[] }).issues).toContainEqual({
        path,
        message: expect.stringContaining(message),
      });
      expect(() =>
        defineService({
          contract: inventory,
          pipeline: steps,
          handlers: {
            reserve: async () => ({ reservationId: "", quantity: 0 }),
            stock: async () => [],
            release: async () => undefined,
            adjust: async () => ({ sku: "", available: 0 }),
          },
        }),
      ).toThrow(/invalid configuration/);
    },
  );
});
