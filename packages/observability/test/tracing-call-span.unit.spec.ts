import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { inboundCallSpan, outboundCallSpan } from "../src/tracing/call-span.js";
import { injectContext } from "../src/tracing/context-carrier.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";

let telemetry: Telemetry | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function start(sampleRatio: number): Telemetry {
  telemetry = initTelemetry({
    serviceName: "call-span-test",
    sampleRatio,
    exporter: "memory",
    instrumentations: { http: false, undici: false, pg: false },
  });
  return telemetry;
}

const init = { method: "GET", route: "/orders/:id", protocol: "flotilla-wire/1", peerAddress: "10.0.0.7" };

describe("outboundCallSpan", () => {
  it.each([1, 0])(
    "outside any context starts a root span (ratio %d) that its context carries and injects",
    (ratio) => {
      const t = start(ratio);
      expect(context.active()).toBe(ROOT_CONTEXT);
      const call = outboundCallSpan(init);
      const ids = call.span.spanContext();
      expect(trace.getSpan(call.context)).toBe(call.span);
      expect(call.run(() => trace.getActiveSpan())).toBe(call.span);
      expect(context.active()).toBe(ROOT_CONTEXT);
      const headers = injectContext<Record<string, string>>({}, call.context);
      expect(headers).toEqual({ traceparent: `00-${ids.traceId}-${ids.spanId}-0${ratio}` });
      call.end(200);
      const finished = t.finishedSpans();
      if (ratio === 0) {
        expect(finished).toEqual([]);
        return;
      }
      expect(finished).toHaveLength(1);
      expect(finished[0]!.name).toBe("GET /orders/:id");
      expect(finished[0]!.kind).toBe(SpanKind.CLIENT);
      expect(finished[0]!.parentSpanContext).toBeUndefined();
      expect(finished[0]!.attributes).toMatchObject({
        "http.route": "/orders/:id",
        "server.address": "10.0.0.7",
        "http.response.status_code": 200,
      });
    },
  );

  it("inside a span continues its trace and keeps the parent's baggage", () => {
    const t = start(1);
    const parent = t.getTracer("test").startSpan("parent");
    const baggage = propagation.createBaggage({ tenant: { value: "acme" } });
    const ctx = propagation.setBaggage(trace.setSpan(ROOT_CONTEXT, parent), baggage);
    const call = context.with(ctx, () => outboundCallSpan(init));
    expect(call.span.spanContext().traceId).toBe(parent.spanContext().traceId);
    const headers = injectContext<Record<string, string>>({}, call.context);
    expect(headers.baggage).toBe("tenant=acme");
    expect(headers.traceparent).toBe(
      `00-${parent.spanContext().traceId}-${call.span.spanContext().spanId}-01`,
    );
    call.end(503);
    parent.end();
    const client = t.finishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
    expect(client.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(client.status.code).toBe(2);
  });
});

describe("inboundCallSpan", () => {
  it("without trace headers starts a root server span; with a traceparent continues it", () => {
    const t = start(1);
    const root = inboundCallSpan({}, init);
    expect(trace.getSpan(root.context)).toBe(root.span);
    root.end(200);
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const child = inboundCallSpan({ traceparent: `00-${traceId}-b7ad6b7169203331-01` }, init);
    expect(child.span.spanContext().traceId).toBe(traceId);
    child.end(200);
    const [first, second] = t.finishedSpans();
    expect(first!.kind).toBe(SpanKind.SERVER);
    expect(first!.parentSpanContext).toBeUndefined();
    expect(second!.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
  });
});
