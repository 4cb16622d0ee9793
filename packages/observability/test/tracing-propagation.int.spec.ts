import { SpanKind } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import type { TelemetryOptions } from "../src/tracing/telemetry-options.js";
import { headersOf, listen, rawGet, sendJson, spansWhen, type TestServer } from "./tracing-support.js";

let telemetry: Telemetry | undefined;
const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await telemetry?.shutdown();
  telemetry = undefined;
});

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const spanId = "00f067aa0ba902b7";

function start(options: Partial<TelemetryOptions> = {}): Telemetry {
  telemetry = initTelemetry({ serviceName: "propagation-test", exporter: "memory", ...options });
  return telemetry;
}

/** A server that answers 200 with the headers it received; the last ones are kept. */
async function echoServer(): Promise<TestServer & { received: () => Record<string, string> }> {
  let last: Record<string, string> = {};
  const server = await listen((req, res) => {
    last = headersOf(req);
    sendJson(res, {});
  });
  servers.push(server);
  return Object.assign(server, { received: () => last });
}

async function serverSpanFor(t: Telemetry) {
  const spans = await spansWhen(t, (s) => s.some((x) => x.kind === SpanKind.SERVER));
  return spans.find((s) => s.kind === SpanKind.SERVER)!;
}

describe("B3 extraction", () => {
  it("continues a trace that arrives with only multi-header B3", async () => {
    const t = start();
    const server = await echoServer();
    const status = await rawGet(server.port, "/", {
      "X-B3-TraceId": traceId,
      "X-B3-SpanId": spanId,
      "X-B3-Sampled": "1",
    });
    expect(status).toBe(200);
    const span = await serverSpanFor(t);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(spanId);
    expect(span.parentSpanContext?.isRemote).toBe(true);
  });

  it("continues a multi-header B3 trace with a 64-bit trace id, left-padded to 128 bits", async () => {
    const t = start();
    const server = await echoServer();
    await rawGet(server.port, "/", {
      "X-B3-TraceId": "a3ce929d0e0e4736",
      "X-B3-SpanId": spanId,
      "X-B3-Sampled": "1",
    });
    const span = await serverSpanFor(t);
    expect(span.spanContext().traceId).toBe("0000000000000000a3ce929d0e0e4736");
    expect(span.parentSpanContext?.spanId).toBe(spanId);
  });

  it("continues a trace that arrives with only the single b3 header", async () => {
    const t = start();
    const server = await echoServer();
    const status = await rawGet(server.port, "/", { b3: `${traceId}-${spanId}-1` });
    expect(status).toBe(200);
    const span = await serverSpanFor(t);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(spanId);
  });

  it("prefers traceparent when both W3C and B3 headers arrive", async () => {
    const t = start();
    const server = await echoServer();
    await rawGet(server.port, "/", {
      traceparent: `00-${traceId}-${spanId}-01`,
      b3: "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
    });
    const span = await serverSpanFor(t);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(spanId);
  });

  it("follows an unsampled B3 decision: nothing is recorded, the trace id still flows on", async () => {
    const t = start();
    const backend = await echoServer();
    const front = await listen(async (_req, res) => {
      await (await fetch(backend.url)).text();
      sendJson(res, {});
    });
    servers.push(front);
    await rawGet(front.port, "/", { "X-B3-TraceId": traceId, "X-B3-SpanId": spanId, "X-B3-Sampled": "0" });
    expect(backend.received().traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    await t.forceFlush();
    expect(t.finishedSpans()).toEqual([]);
  });
});

describe("malformed traceparent (https://www.w3.org/TR/trace-context/#traceparent-header)", () => {
  const valid = `00-${traceId}-${spanId}-01`;
  const malformed: [string, string][] = [
    ["version ff", `ff-${traceId}-${spanId}-01`],
    ["all-zero trace id", `00-${"0".repeat(32)}-${spanId}-01`],
    ["all-zero span id", `00-${traceId}-${"0".repeat(16)}-01`],
    ["trace id one digit short", `00-${traceId.slice(1)}-${spanId}-01`],
    ["trace id one digit long", `00-${traceId}a-${spanId}-01`],
    ["span id one digit short", `00-${traceId}-${spanId.slice(1)}-01`],
    ["span id one digit long", `00-${traceId}-${spanId}0-01`],
    ["version one digit", `0-${traceId}-${spanId}-01`],
    ["non-hex trace id", `00-${traceId.slice(0, 31)}g-${spanId}-01`],
    ["non-hex span id", `00-${traceId}-${spanId.slice(0, 15)}z-01`],
    ["non-hex version", `0x-${traceId}-${spanId}-01`],
    ["upper-case hex", `00-${traceId.toUpperCase()}-${spanId}-01`],
    ["non-hex flags", `00-${traceId}-${spanId}-0g`],
    ["one-digit flags", `00-${traceId}-${spanId}-1`],
    ["three-digit flags", `00-${traceId}-${spanId}-001`],
    ["missing flags", `00-${traceId}-${spanId}`],
    ["version 00 with a trailing field", `${valid}-extra`],
    ["two headers folded into one", `${valid}, ${valid}`],
    ["wrong separators", `00_${traceId}_${spanId}_01`],
    ["garbage", "hello"],
  ];

  it.each(malformed)("%s starts a new trace and the server answers 200", async (_case, header) => {
    const t = start();
    const server = await echoServer();
    const status = await rawGet(server.port, "/", { traceparent: header, tracestate: "vendor=abc" });
    expect(status).toBe(200);
    const span = await serverSpanFor(t);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.spanContext().traceId).not.toBe(traceId);
    expect(span.spanContext().traceId.toLowerCase()).not.toBe(traceId);
    expect(span.spanContext().traceState).toBeUndefined();
  });

  const wellFormed: [string, string][] = [
    ["version 00", valid],
    ["a future version with extra fields", `cc-${traceId}-${spanId}-01-what-the-future-holds`],
    ["unknown flag bits set", `00-${traceId}-${spanId}-09`],
  ];

  it.each(wellFormed)("control: %s continues the trace", async (_case, header) => {
    const t = start();
    const server = await echoServer();
    const status = await rawGet(server.port, "/", { traceparent: header, tracestate: "vendor=abc" });
    expect(status).toBe(200);
    const span = await serverSpanFor(t);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(spanId);
    expect(span.spanContext().traceState?.get("vendor")).toBe("abc");
  });
});

describe("B3 injection", () => {
  async function outboundHeaders(options: Partial<TelemetryOptions>): Promise<Record<string, string>> {
    const t = start(options);
    const server = await echoServer();
    await t.tracer.startActiveSpan("outbound", async (span) => {
      await (await fetch(server.url)).text();
      span.end();
    });
    return server.received();
  }

  it("writes multi-header B3 beside traceparent with injectB3: true", async () => {
    const headers = await outboundHeaders({ injectB3: true });
    const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(headers.traceparent ?? "");
    expect(traceparent).not.toBeNull();
    expect(headers["x-b3-traceid"]).toBe(traceparent![1]);
    expect(headers["x-b3-spanid"]).toBe(traceparent![2]);
    expect(headers["x-b3-sampled"]).toBe("1");
    expect(headers.b3).toBeUndefined();
  });

  it('writes the single b3 header with injectB3: "single"', async () => {
    const headers = await outboundHeaders({ injectB3: "single" });
    const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(headers.traceparent ?? "");
    expect(headers.b3).toBe(`${traceparent![1]}-${traceparent![2]}-1`);
    expect(headers["x-b3-traceid"]).toBeUndefined();
  });

  it("writes no B3 by default", async () => {
    const headers = await outboundHeaders({});
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(Object.keys(headers).filter((h) => h === "b3" || h.startsWith("x-b3-"))).toEqual([]);
  });
});

describe("sampling", () => {
  it("ratio 0 records nothing but still propagates the trace across hops", async () => {
    const t = start({ sampleRatio: 0 });
    const backend = await echoServer();
    let frontTraceparent: string | undefined;
    const front = await listen(async (req, res) => {
      frontTraceparent = headersOf(req).traceparent;
      await (await fetch(backend.url)).text();
      sendJson(res, {});
    });
    servers.push(front);
    await (await fetch(front.url)).text();

    const inbound = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(frontTraceparent ?? "");
    const onward = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(backend.received().traceparent ?? "");
    expect(inbound).not.toBeNull();
    expect(onward).not.toBeNull();
    expect(onward![1]).toBe(inbound![1]);
    expect(onward![2]).not.toBe(inbound![2]);
    await t.forceFlush();
    expect(t.finishedSpans()).toEqual([]);
  });

  it("ratio 0 still records a trace whose remote parent was sampled (parent-based)", async () => {
    const t = start({ sampleRatio: 0 });
    const server = await echoServer();
    await rawGet(server.port, "/", { traceparent: `00-${traceId}-${spanId}-01` });
    const span = await serverSpanFor(t);
    expect(span.spanContext().traceId).toBe(traceId);
  });

  it("ratio 1 does not record a trace whose remote parent was not sampled (parent-based)", async () => {
    const t = start({ sampleRatio: 1 });
    const backend = await echoServer();
    const front = await listen(async (_req, res) => {
      await (await fetch(backend.url)).text();
      sendJson(res, {});
    });
    servers.push(front);
    await rawGet(front.port, "/", { traceparent: `00-${traceId}-${spanId}-00` });
    expect(backend.received().traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    await t.forceFlush();
    expect(t.finishedSpans()).toEqual([]);
  });

  it("a fractional ratio samples some new traces and not others", async () => {
    const t = start({ sampleRatio: 0.5 });
    const decisions = new Set<boolean>();
    for (let i = 0; i < 64 && decisions.size < 2; i++) {
      const span = t.tracer.startSpan("op");
      decisions.add(span.isRecording());
      span.end();
    }
    expect([...decisions].sort()).toEqual([false, true]);
  });
});
