import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { extractContext, injectContext } from "../src/tracing/context-carrier.js";
import { currentTraceIds } from "../src/tracing/current-trace-ids.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";

let telemetry: Telemetry | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function start(options: { sampleRatio?: number; injectB3?: boolean } = {}): Telemetry {
  telemetry = initTelemetry({
    serviceName: "context-test",
    exporter: "memory",
    instrumentations: { http: false, undici: false, pg: false },
    ...options,
  });
  return telemetry;
}

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const spanId = "00f067aa0ba902b7";

describe("currentTraceIds", () => {
  it("is undefined outside a span and without telemetry", () => {
    expect(currentTraceIds()).toBeUndefined();
    start();
    expect(currentTraceIds()).toBeUndefined();
  });

  it("returns the active span's ids, sampled or not", () => {
    const t = start();
    t.tracer.startActiveSpan("op", (span) => {
      expect(currentTraceIds()).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        sampled: true,
      });
      span.end();
    });
  });

  it("returns the ids of an unsampled span, which still flow to the next hop", async () => {
    await start({ sampleRatio: 0 }).tracer.startActiveSpan("op", async (span) => {
      await Promise.resolve();
      const ids = currentTraceIds();
      expect(ids).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        sampled: false,
      });
      expect(ids?.traceId).toMatch(/^[0-9a-f]{32}$/);
      span.end();
    });
  });
});

describe("injectContext / extractContext", () => {
  it("carry a span context and baggage through a plain message-header object", () => {
    const t = start();
    const headers: Record<string, string> = {};
    const producer = t.tracer.startSpan("publish", { kind: SpanKind.PRODUCER });
    const withBaggage = propagation.setBaggage(
      trace.setSpan(context.active(), producer),
      propagation.createBaggage({ tenant: { value: "acme" } }),
    );
    expect(injectContext(headers, withBaggage)).toBe(headers);
    producer.end();
    expect(headers.traceparent).toBe(
      `00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01`,
    );
    expect(headers.baggage).toBe("tenant=acme");

    const consumerContext = extractContext(headers);
    context.with(consumerContext, () => {
      const consumer = t.tracer.startSpan("process", { kind: SpanKind.CONSUMER });
      expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId);
      consumer.end();
      expect(propagation.getBaggage(context.active())?.getEntry("tenant")?.value).toBe("acme");
    });
    const consumer = t.finishedSpans().find((s) => s.name === "process")!;
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
  });

  it("injects from the active context by default", () => {
    const t = start();
    t.tracer.startActiveSpan("op", (span) => {
      expect(injectContext<Record<string, string>>({}).traceparent).toBe(
        `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`,
      );
      span.end();
    });
  });

  it("reads plain-object headers case-insensitively", () => {
    start();
    const ctx = extractContext({ TraceParent: `00-${traceId}-${spanId}-01` });
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId, spanId, isRemote: true });
  });

  it("works with a Fetch API Headers carrier", () => {
    const t = start({ injectB3: true });
    const headers = new Headers();
    t.tracer.startActiveSpan("op", (span) => {
      injectContext(headers);
      span.end();
    });
    expect(headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(headers.get("x-b3-traceid")).toMatch(/^[0-9a-f]{32}$/);
    const ctx = extractContext(new Headers({ b3: `${traceId}-${spanId}-1` }));
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId, spanId });
  });

  it("extracts B3 from message headers", () => {
    start();
    const ctx = extractContext({ "x-b3-traceid": traceId, "x-b3-spanid": spanId, "x-b3-sampled": "1" });
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId, spanId, traceFlags: 1 });
  });

  it("leaves the base context alone for a malformed header, and never throws", () => {
    start();
    for (const traceparent of [`ff-${traceId}-${spanId}-01`, "", "00-xyz", `00-${traceId}-${spanId}-01-x`]) {
      const ctx = extractContext({ traceparent });
      expect(trace.getSpanContext(ctx)).toBeUndefined();
    }
    expect(trace.getSpanContext(extractContext({ traceparent: ["a", "b"] }))).toBeUndefined();
  });

  it("writes nothing outside a span", () => {
    start();
    expect(injectContext({})).toEqual({});
  });
});
