import {
  context,
  createTraceState,
  type SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { decodeTraceRequestProtobuf } from "../src/collector/otlp-protobuf-decoder.js";
import { encodeTraceExportRequest } from "../src/tracing/otlp-span-encoder.js";
import { createSpanExport } from "../src/tracing/span-export.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import { parseTelemetryOptions } from "../src/tracing/telemetry-options.js";

let telemetry: Telemetry | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function start(): Telemetry {
  telemetry = initTelemetry({
    serviceName: "encoder-test",
    serviceVersion: "1.2.3",
    exporter: "memory",
    attributes: { "deployment.environment": "tést ✓", "host.count": 12_345_678_901 },
    instrumentations: { http: false, undici: false, pg: false },
  });
  return telemetry;
}

const sdkBytes = (spans: Parameters<typeof encodeTraceExportRequest>[0]) =>
  Buffer.from(ProtobufTraceSerializer.serializeRequest([...spans])!);

describe("encodeTraceExportRequest", () => {
  it("writes the bytes the SDK's protobuf serializer writes, for spans of every shape", () => {
    const t = start();
    const tracer = t.getTracer("scope-a", "0.1");
    const other = t.getTracer("scope-b");
    const remote = trace.setSpan(
      context.active(),
      trace.wrapSpanContext({
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331",
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
        traceState: createTraceState("vendor=x,other=y"),
      }),
    );
    for (let i = 0; i < 12; i++) {
      const span = tracer.startSpan(
        i % 3 === 0 ? "ünïcode ✓ 🚢" : "GET /orders/:id",
        {
          kind: (i % 5) as SpanKind,
          attributes: {
            s: "v",
            n: i,
            negative: -i - 1,
            big: 2 ** 40 + i,
            huge: 2 ** 60,
            double: 1.5,
            nan: Number.NaN,
            infinite: Number.NEGATIVE_INFINITY,
            flag: i % 2 === 0,
            strings: ["a", "b"],
            numbers: [1, 2.5, -3],
            empty: "",
            long: "x".repeat(300),
          },
        },
        i % 4 === 0 ? remote : undefined,
      );
      span.addEvent("event", { k: "v", n: 3 });
      if (i % 4 === 1) span.setStatus({ code: SpanStatusCode.ERROR, message: i % 8 === 1 ? "boom ✗" : "" });
      span.addLink({ context: trace.getSpanContext(remote)!, attributes: { l: 1 } });
      context.with(trace.setSpan(context.active(), span), () => other.startSpan("child").end());
      span.end();
    }
    const spans = t.finishedSpans();
    expect(Buffer.from(encodeTraceExportRequest(spans))).toEqual(sdkBytes(spans));
  });

  it("writes the SDK's bytes for attributes that repeat, change every span, alternate or settle", () => {
    const t = start();
    for (let i = 0; i < 300; i++) {
      t.tracer
        .startSpan("op", {
          attributes: {
            same: "GET",
            changing: i,
            alternating: i % 2 === 0 ? "a" : "b",
            settling: i < 150 ? `v${i}` : "settled",
            typeChanging: i % 3 === 0 ? 1 : i % 3 === 1 ? "1" : true,
            zero: i % 2 === 0 ? 0 : -0,
          },
        })
        .end();
      // Some attributes only on some spans, and in a different order.
      if (i % 7 === 0)
        t.tracer.startSpan("other", { attributes: { settling: "settled", same: "POST" } }).end();
    }
    const spans = t.finishedSpans();
    // In several requests too: what is remembered outlives a request.
    for (let from = 0; from < spans.length; from += 64) {
      const some = spans.slice(from, from + 64);
      expect(Buffer.from(encodeTraceExportRequest(some))).toEqual(sdkBytes(some));
    }
    expect(Buffer.from(encodeTraceExportRequest(spans))).toEqual(sdkBytes(spans));
  });

  it("writes the SDK's bytes for any attribute values", () => {
    const t = start();
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null)), { maxLength: 5 }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), value, { maxKeys: 8 }),
        (attributes) => {
          t.clearFinishedSpans();
          t.tracer.startSpan("op", { attributes }).end();
          const spans = t.finishedSpans();
          expect(Buffer.from(encodeTraceExportRequest(spans))).toEqual(sdkBytes(spans));
        },
      ),
    );
  });

  it("is what the OTLP protobuf exporter sends, and the collector reads it back", () => {
    const exported = createSpanExport(
      parseTelemetryOptions({
        serviceName: "x",
        exporter: "otlp",
        endpoint: "http://127.0.0.1:4318/v1/traces",
        env: {},
      }),
    );
    expect(exported.fastEncoding).toBe(true);
    exported.close();

    const t = start();
    t.tracer.startSpan("op", { attributes: { a: "b" } }).end();
    const request = decodeTraceRequestProtobuf(encodeTraceExportRequest(t.finishedSpans()));
    expect(request.resourceSpans[0]!.scopeSpans[0]!.spans[0]).toMatchObject({
      name: "op",
      attributes: { a: "b" },
    });
  });
});
