// A span per request through the gateway, the client's trace continued upstream with the
// gateway's span as the parent, and RED metrics per route.
import { createMetrics, initTelemetry, type Telemetry } from "@flotilla/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "../src/server/gateway.js";
import { type UpstreamProcess, Upstreams } from "./fixtures/upstreams.js";

const upstreams = new Upstreams();
let upstream: UpstreamProcess;
let telemetry: Telemetry;
let gateway: Gateway;
const metrics = createMetrics({ service: "gateway-test", instanceId: "g1", collectDefaults: false });

beforeAll(async () => {
  upstream = await upstreams.start("traced");
  telemetry = initTelemetry({
    serviceName: "gateway",
    exporter: "memory",
    instrumentations: { http: { incoming: false }, undici: false, pg: false },
  });
  gateway = await startGateway({
    tracing: true,
    durations: metrics.httpServer,
    config: {
      listen: { port: 0 },
      accessLog: false,
      upstreams: { u: { urls: [upstream.url] } },
      routes: [
        {
          id: "orders",
          match: { path: { prefix: "/orders" } },
          rewrite: { prefix: { from: "/orders", to: "/echo" } },
          upstream: "u",
        },
      ],
    },
  });
});
afterAll(async () => {
  try {
    await gateway.close(1_000);
    await telemetry.shutdown();
  } finally {
    await upstreams.close();
  }
});

describe("tracing", () => {
  it("continues the client's trace upstream under the gateway's server span", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const clientSpan = "00f067aa0ba902b7";
    const res = await fetch(`${gateway.url}/orders/1`, {
      headers: { traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: "vendor=client" },
    });
    const seen = (await res.json()) as { headers: Record<string, string> };
    const sent = seen.headers.traceparent!;
    expect(sent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const parent = sent.split("-")[2];
    expect(parent).not.toBe(clientSpan);
    await telemetry.forceFlush?.();
    const spans = telemetry.finishedSpans();
    const server = spans.find((s) => s.spanContext().spanId === parent);
    expect(server).toBeDefined();
    expect(server!.spanContext().traceId).toBe(traceId);
    expect(server!.parentSpanContext?.spanId).toBe(clientSpan);
  });

  it("does not forward a client's trace headers verbatim", async () => {
    const res = await fetch(`${gateway.url}/orders/2`, {
      headers: { traceparent: "00-11111111111111111111111111111111-2222222222222222-01" },
    });
    const seen = (await res.json()) as { headers: Record<string, string> };
    expect(seen.headers.traceparent).not.toBe("00-11111111111111111111111111111111-2222222222222222-01");
  });
});

describe("metrics", () => {
  it("records request durations per route and status", async () => {
    await fetch(`${gateway.url}/orders/3`).then((r) => r.arrayBuffer());
    await fetch(`${gateway.url}/nowhere`).then((r) => r.arrayBuffer());
    const text = await metrics.render();
    expect(text).toMatch(
      /http_server_request_duration_seconds_count\{[^}]*http_route="orders"[^}]*http_response_status_code="200"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(
      /http_server_request_duration_seconds_count\{[^}]*http_route="unmatched"[^}]*http_response_status_code="404"[^}]*\} [1-9]/,
    );
  });
});
