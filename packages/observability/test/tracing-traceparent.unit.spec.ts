import {
  type context,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import { suppressTracing, TraceState } from "@opentelemetry/core";
import { afterEach, describe, expect, it } from "vitest";
import { headSampling, registeredHeadSampling } from "../src/tracing/head-sampling.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import type { B3Injection } from "../src/tracing/trace-propagator.js";
import { extractTraceparent, injectTraceparent } from "../src/tracing/traceparent.js";

let telemetry: Telemetry | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function start(injectB3: B3Injection = false): void {
  telemetry = initTelemetry({
    serviceName: "traceparent-test",
    exporter: "memory",
    injectB3,
    instrumentations: { http: false, undici: false, pg: false },
  });
}

const traceId = "0af7651916cd43dd8448eb211c80319c";
const spanId = "b7ad6b7169203331";

/** What the registered propagator reads from `carrier`, as comparable data. */
function viaPropagator(carrier: Record<string, string>) {
  return trace.getSpanContext(propagation.extract(ROOT_CONTEXT, carrier));
}

describe("extractTraceparent", () => {
  it("reads a canonical traceparent exactly as the propagator does", () => {
    start();
    for (const flags of ["00", "01", "03", "ff"]) {
      const carrier = { traceparent: `00-${traceId}-${spanId}-${flags}`, "x-other": "1" };
      const fast = extractTraceparent(registeredHeadSampling(), carrier);
      expect(fast).toBeDefined();
      expect(trace.getSpanContext(fast!)).toEqual(viaPropagator(carrier));
      expect(trace.getSpanContext(fast!)?.traceFlags).toBe(Number.parseInt(flags, 16));
    }
  });

  it("leaves every other traceparent to the propagator", () => {
    start();
    const sampling = registeredHeadSampling();
    const others = [
      `00-${traceId.toUpperCase()}-${spanId}-01`,
      `00-${"0".repeat(32)}-${spanId}-01`,
      `00-${traceId}-${"0".repeat(16)}-01`,
      `ff-${traceId}-${spanId}-01`,
      `01-${traceId}-${spanId}-01-extra`,
      `00-${traceId}-${spanId}-01-extra`,
      ` 00-${traceId}-${spanId}-01`,
      `00-${traceId}-${spanId}-0g`,
      `00_${traceId}-${spanId}-01`,
      `00-${traceId.slice(1)}-${spanId}-011`,
      "",
    ];
    for (const traceparent of others) expect(extractTraceparent(sampling, { traceparent })).toBeUndefined();
  });

  it("leaves carriers with other propagation headers, or none, to the propagator", () => {
    start();
    const sampling = registeredHeadSampling();
    const traceparent = `00-${traceId}-${spanId}-01`;
    for (const extra of [
      { tracestate: "vendor=1" },
      { baggage: "user=alice" },
      { b3: `${traceId}-${spanId}-1` },
      { "x-b3-traceid": traceId },
    ]) {
      expect(extractTraceparent(sampling, { traceparent, ...extra })).toBeUndefined();
    }
    expect(extractTraceparent(sampling, {})).toBeUndefined();
    expect(extractTraceparent(undefined, { traceparent })).toBeUndefined();
  });
});

describe("injectTraceparent", () => {
  function injected(ctx: ReturnType<typeof context.active>) {
    const fast: Record<string, string> = {};
    const handled = injectTraceparent(registeredHeadSampling(), ctx, fast, defaultTextMapSetter);
    const full: Record<string, string> = {};
    propagation.inject(ctx, full, defaultTextMapSetter);
    return { handled, fast, full };
  }

  it("writes what the propagator writes for a span context without trace state or baggage", () => {
    start();
    for (const traceFlags of [TraceFlags.NONE, TraceFlags.SAMPLED]) {
      const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags });
      const { handled, fast, full } = injected(ctx);
      expect(handled).toBe(true);
      expect(fast).toEqual(full);
      expect(fast.traceparent).toBe(`00-${traceId}-${spanId}-0${traceFlags}`);
    }
    for (const ctx of [
      ROOT_CONTEXT,
      suppressTracing(trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 })),
      trace.setSpanContext(ROOT_CONTEXT, { traceId: "0".repeat(32), spanId, traceFlags: 1 }),
    ]) {
      const { handled, fast, full } = injected(ctx);
      expect(handled).toBe(true);
      expect(fast).toEqual({});
      expect(full).toEqual({});
    }
  });

  it("leaves trace state, baggage and B3 injection to the propagator", () => {
    start();
    const withState = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId,
      traceFlags: 1,
      traceState: new TraceState("vendor=1"),
    });
    expect(injected(withState).handled).toBe(false);
    const withBaggage = propagation.setBaggage(
      trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 }),
      propagation.createBaggage({ user: { value: "alice" } }),
    );
    expect(injected(withBaggage).handled).toBe(false);
    expect(injected(withBaggage).fast).toEqual({});
  });

  it("is off when the telemetry injects B3, and without telemetry", async () => {
    expect(headSampling()).toBeUndefined();
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 });
    expect(injectTraceparent(registeredHeadSampling(), ctx, {}, defaultTextMapSetter)).toBe(false);
    start("single");
    expect(injectTraceparent(registeredHeadSampling(), ctx, {}, defaultTextMapSetter)).toBe(false);
  });
});
