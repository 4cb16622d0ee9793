// Inbound tracing, logs and metrics of a listening service server, with the process's telemetry
// exporting to memory.
import { initTelemetry, type Telemetry } from "@flotilla/observability";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineService } from "../src/server/define-service.js";
import { type ServiceServer, serviceServer } from "../src/server/service-server.js";
import { inventory, type LogLine, testLogger, testMetrics } from "./fixtures/inventory-service.js";
import { until } from "./fixtures/test-registry.js";

describe("service server observability", () => {
  let telemetry: Telemetry;
  let server: ServiceServer;
  let url: string;
  const lines: LogLine[] = [];
  const seen: { traceId?: string | undefined; tracer?: boolean } = {};
  const agent = new Agent({ keepAliveTimeout: 1_000 });

  beforeAll(async () => {
    telemetry = initTelemetry({
      serviceName: "inventory",
      exporter: "memory",
      instrumentations: { http: { incoming: false }, undici: false, pg: false },
    });
    server = serviceServer(
      defineService({
        contract: inventory,
        handlers: {
          async reserve({ params, body }, ctx) {
            seen.traceId = ctx.traceId;
            seen.tracer = ctx.tracer !== undefined;
            ctx.logger.info({ sku: params.sku }, "reserving");
            if (body.quantity > 100) throw new Error("too many");
            return { reservationId: "r-1", quantity: body.quantity };
          },
          stock: async () => [],
          release: async () => undefined,
          adjust: async ({ params }) => ({ sku: params.sku, available: 0 }),
        },
      }),
      { logger: testLogger(lines).logger, metrics: testMetrics() },
    );
    ({ url } = await server.listen(0));
  });

  afterAll(async () => {
    await agent.close();
    await server.close();
    await telemetry.shutdown();
  });

  const reserve = (quantity: number, headers: Record<string, string> = {}) =>
    request(`${url}/reservations/ABC-1`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ quantity }),
      dispatcher: agent,
    });

  it("continues the caller's trace in a server span named by the route template, with trace ids in logs", async () => {
    telemetry.clearFinishedSpans();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await reserve(2, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(res.statusCode).toBe(201);
    await res.body.text();
    await until(() => telemetry.finishedSpans().length > 0, 5_000, "the server span");
    const [span] = telemetry.finishedSpans();
    expect(span?.name).toBe("POST /reservations/:sku");
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.attributes["http.route"]).toBe("/reservations/:sku");
    expect(span?.attributes["http.response.status_code"]).toBe(201);
    expect(seen.traceId).toBe(traceId);
    expect(seen.tracer).toBe(true);
    expect(lines.find((l) => l.msg === "reserving")).toMatchObject({ route: "reserve", trace_id: traceId });
  });

  it("marks a 500 as an error and logs it with the trace id", async () => {
    telemetry.clearFinishedSpans();
    const res = await reserve(1000);
    expect(res.statusCode).toBe(500);
    const problem = (await res.body.json()) as { traceId?: string; code: string };
    expect(problem.code).toBe("FLT_SERVICE_INTERNAL");
    await until(() => telemetry.finishedSpans().length > 0, 5_000, "the server span");
    const [span] = telemetry.finishedSpans();
    expect(span?.status.code).toBe(2);
    expect(problem.traceId).toBe(span?.spanContext().traceId);
    expect(lines.find((l) => l.msg === "request failed")).toMatchObject({
      level: "error",
      trace_id: span?.spanContext().traceId,
    });
  });

  it("does not trace health, metrics or OpenAPI requests, and times the others by route", async () => {
    telemetry.clearFinishedSpans();
    for (const path of ["/health/live", "/openapi.json", "/metrics"]) {
      const res = await request(`${url}${path}`, { dispatcher: agent });
      await res.body.text();
    }
    const missing = await request(`${url}/nope`, { dispatcher: agent });
    await missing.body.text();
    await until(() => telemetry.finishedSpans().length > 0, 5_000, "the 404's span");
    expect(telemetry.finishedSpans().map((s) => s.name)).toEqual(["GET"]);
    const metrics = await (await request(`${url}/metrics`, { dispatcher: agent })).body.text();
    expect(metrics).toMatch(
      /http_server_request_duration_seconds_count\{[^}]*http_route="\/reservations\/:sku"[^}]*http_response_status_code="201"[^}]*\} 1/,
    );
    expect(metrics).toMatch(/http_route="unmatched"/);
    expect(metrics).not.toMatch(/http_route="\/metrics"/);
  });
});
