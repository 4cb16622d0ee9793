import {
  type Context,
  ROOT_CONTEXT,
  SpanKind,
  type TextMapGetter,
  type TextMapPropagator,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import { SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";
import { afterEach, describe, expect, it } from "vitest";
import { headSampling } from "../src/tracing/head-sampling.js";
import { PooledIdGenerator } from "../src/tracing/pooled-id-generator.js";
import { PropagationHeaders } from "../src/tracing/propagation-headers.js";
import { initTelemetry, rootUpperBound, type Telemetry } from "../src/tracing/telemetry.js";
import { startSampledSpan } from "../src/tracing/trace-http-server.js";
import { tracePropagator } from "../src/tracing/trace-propagator.js";

let telemetry: Telemetry | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function start(): Telemetry {
  telemetry = initTelemetry({
    serviceName: "head-sampling-test",
    exporter: "memory",
    sampleRatio: 0.5,
    instrumentations: { http: false, undici: false, pg: false },
  });
  return telemetry;
}

describe("head sampling", () => {
  it("is lent by the running telemetry and withdrawn when it stops", async () => {
    expect(headSampling()).toBeUndefined();
    const t = start();
    expect(headSampling()?.provider).toBe(t.tracerProvider);
    await t.shutdown();
    expect(headSampling()).toBeUndefined();
  });

  it("hands a preset trace id to the SDK's next root span, once", () => {
    const t = start();
    const ids = headSampling()!.ids;
    const preset = "0af7651916cd43dd8448eb211c80319c";
    ids.presetTraceId(preset);
    const root = t.tracer.startSpan("root", { root: true });
    const next = t.tracer.startSpan("next", { root: true });
    expect(root.spanContext().traceId).toBe(preset);
    expect(next.spanContext().traceId).not.toBe(preset);
    expect(next.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("decides on a child span as the running telemetry's sampler does, without asking it", () => {
    start();
    const sampling = headSampling()!;
    let asked = 0;
    const sdkSampler = sampling.sampler;
    const counting = {
      ...sampling,
      sampler: {
        shouldSample: (...args: Parameters<typeof sdkSampler.shouldSample>) => {
          asked++;
          return sdkSampler.shouldSample(...args);
        },
        toString: () => "counting",
      },
    };
    for (const isRemote of [true, false]) {
      for (const traceFlags of [TraceFlags.SAMPLED, TraceFlags.NONE]) {
        const parent = trace.setSpanContext(ROOT_CONTEXT, {
          traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
          spanId: "00f067aa0ba902b7",
          traceFlags,
          isRemote,
        });
        const expected = sdkSampler.shouldSample(
          parent,
          "4bf92f3577b34da6a3ce929d0e0e4736",
          "GET",
          SpanKind.SERVER,
          {},
          [],
        );
        const span = startSampledSpan(counting, "GET", {}, parent);
        expect(span.isRecording(), `remote ${isRemote}, flags ${traceFlags}`).toBe(
          expected.decision === SamplingDecision.RECORD_AND_SAMPLED,
        );
        expect(span.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
        span.end();
      }
    }
    expect(asked).toBe(0);
  });
});

describe("PooledIdGenerator", () => {
  it("makes distinct lower-case hex ids of the right length, across refills of its pool", () => {
    const ids = new PooledIdGenerator();
    const traceIds = Array.from({ length: 600 }, () => ids.generateTraceId());
    const spanIds = Array.from({ length: 600 }, () => ids.generateSpanId());
    for (const id of traceIds) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spanIds) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(traceIds).size).toBe(traceIds.length);
    expect(new Set(spanIds).size).toBe(spanIds.length);
  });

  it("folds the last random trace id to the value the SDK's ratio sampler decides on", () => {
    const ids = new PooledIdGenerator();
    const ratios = [0, 0.001, 0.1, 0.5, 0.9, 0.999999, 1];
    const samplers = ratios.map((r) => new TraceIdRatioBasedSampler(r));
    const sampled = ratios.map(() => 0);
    // 600 ids cross a refill of the 4 KiB pool (256 trace ids per pool).
    for (let n = 0; n < 600; n++) {
      const traceId = ids.randomTraceId();
      const fold = ids.lastTraceIdFold;
      ratios.forEach((ratio, i) => {
        const sdk = samplers[i]!.shouldSample(ROOT_CONTEXT, traceId).decision;
        const ours = fold < rootUpperBound(ratio);
        expect(ours, `${traceId} at ${ratio}`).toBe(sdk === SamplingDecision.RECORD_AND_SAMPLED);
        if (ours) sampled[i]!++;
      });
    }
    expect(sampled[0]).toBe(0);
    expect(sampled[3]).toBeGreaterThan(200);
    expect(sampled[3]).toBeLessThan(400);
    expect(sampled.at(-1)).toBe(600);
  });

  it("withdraws a preset trace id on request", () => {
    const ids = new PooledIdGenerator();
    ids.presetTraceId("0af7651916cd43dd8448eb211c80319c");
    ids.presetTraceId(undefined);
    expect(ids.generateTraceId()).not.toBe("0af7651916cd43dd8448eb211c80319c");
  });
});

describe("PropagationHeaders", () => {
  const raw = (...names: string[]) => names.flatMap((name) => [name, "value"]);

  it("finds the W3C, baggage and B3 headers Flotilla's propagator starts from, in any case", () => {
    const headers = PropagationHeaders.of(tracePropagator())!;
    expect(headers).toBeDefined();
    for (const name of ["traceparent", "Baggage", "b3", "X-B3-TraceId", "x-b3-spanid", "X-B3-Sampled"]) {
      expect(headers.presentIn(raw("Host", name))).toBe(true);
    }
    // tracestate is read only after a traceparent, so alone it changes nothing.
    expect(headers.presentIn(raw("Host", "User-Agent", "Accept", "X-Request-Id", "tracestate"))).toBe(false);
    expect(headers.presentIn([])).toBe(false);
  });

  it("gives up on a propagator that enumerates the carrier or changes the context from nothing", () => {
    const enumerating: TextMapPropagator = {
      inject() {},
      extract(ctx: Context, carrier: unknown, getter: TextMapGetter) {
        getter.keys(carrier);
        return ctx;
      },
      fields: () => [],
    };
    const key = Symbol("marker");
    const inventing: TextMapPropagator = {
      inject() {},
      extract: (ctx: Context) => ctx.setValue(key, true),
      fields: () => [],
    };
    expect(PropagationHeaders.of(enumerating)).toBeUndefined();
    expect(PropagationHeaders.of(inventing)).toBeUndefined();
  });

  it("reports absent only headers whose absence leaves extraction with the base context", () => {
    const propagator = tracePropagator();
    const headers = PropagationHeaders.of(propagator)!;
    const carrier = { host: "a", "user-agent": "b", accept: "*/*" };
    expect(headers.presentIn(raw(...Object.keys(carrier)))).toBe(false);
    expect(
      propagator.extract(ROOT_CONTEXT, carrier, { get: (c, k) => c[k as keyof typeof c], keys: Object.keys }),
    ).toBe(ROOT_CONTEXT);
  });
});
