import { once } from "node:events";
import http, { request } from "node:http";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { setHttpRoute } from "../src/tracing/http-route.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import { untraced } from "../src/tracing/untraced.js";
import {
  headersOf,
  listen,
  sendJson,
  spanCount,
  spansWhen,
  type TestServer,
  theSpan,
} from "./tracing-support.js";

let telemetry: Telemetry | undefined;
const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await telemetry?.shutdown();
  telemetry = undefined;
});

async function serve(handler: Parameters<typeof listen>[0]): Promise<TestServer> {
  const server = await listen(handler);
  servers.push(server);
  return server;
}

/** GET through `node:http`'s named `request` export, resolving with the parsed JSON body. */
async function httpGet(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const req = request(url, { headers });
  req.end();
  const [res] = (await once(req, "response")) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

describe("HTTP tracing across a client → server → fetch → server chain", () => {
  it("produces parent/child spans with one trace id, server spans named by route template", async () => {
    telemetry = initTelemetry({ serviceName: "http-test", exporter: "memory" });
    const backend = await serve((req, res) => {
      setHttpRoute("/stock/:sku");
      sendJson(res, { headers: headersOf(req) });
    });
    const front = await serve(async (req, res) => {
      setHttpRoute("/users/:id");
      const upstream = await fetch(`${backend.url}/stock/sku-991`);
      sendJson(res, { upstream: await upstream.json(), path: req.url });
    });

    const tracer = telemetry.tracer;
    await tracer.startActiveSpan("checkout", async (root) => {
      await httpGet(`${front.url}/users/42?verbose=1`);
      root.end();
    });

    const spans = await spanCount(telemetry, 5);
    const rootSpan = theSpan(spans, "checkout", SpanKind.INTERNAL);
    const clientSpans = spans.filter((s) => s.kind === SpanKind.CLIENT);
    const frontServer = theSpan(spans, "GET /users/:id", SpanKind.SERVER);
    const backendServer = theSpan(spans, "GET /stock/:sku", SpanKind.SERVER);
    expect(clientSpans).toHaveLength(2);
    const [nodeClient, fetchClient] = [
      clientSpans.find((s) => s.instrumentationScope.name.includes("http"))!,
      clientSpans.find((s) => s.instrumentationScope.name.includes("undici"))!,
    ];
    expect(nodeClient).toBeDefined();
    expect(fetchClient).toBeDefined();

    const traceId = rootSpan.spanContext().traceId;
    for (const span of spans) expect(span.spanContext().traceId).toBe(traceId);
    expect(nodeClient.parentSpanContext?.spanId).toBe(rootSpan.spanContext().spanId);
    expect(frontServer.parentSpanContext?.spanId).toBe(nodeClient.spanContext().spanId);
    expect(frontServer.parentSpanContext?.isRemote).toBe(true);
    expect(fetchClient.parentSpanContext?.spanId).toBe(frontServer.spanContext().spanId);
    expect(backendServer.parentSpanContext?.spanId).toBe(fetchClient.spanContext().spanId);

    expect(frontServer.attributes).toMatchObject({
      "http.request.method": "GET",
      "url.path": "/users/42",
      "http.route": "/users/:id",
      "http.response.status_code": 200,
      "server.address": "127.0.0.1",
    });
    for (const span of spans) {
      expect(span.name).not.toContain("42");
      expect(span.name).not.toContain("sku-991");
    }
    expect(rootSpan.resource.attributes).toMatchObject({
      "service.name": "http-test",
      "service.version": "0.0.0",
    });
    expect(rootSpan.resource.attributes["service.instance.id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("names a server span by its method alone when no route is set, never by the raw path", async () => {
    telemetry = initTelemetry({ serviceName: "http-test", exporter: "memory" });
    const server = await serve((_req, res) => sendJson(res, {}));
    await httpGet(`${server.url}/orders/7f1c2a`);
    const spans = await spansWhen(telemetry, (s) => s.some((x) => x.kind === SpanKind.SERVER));
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(serverSpan.name).toBe("GET");
    expect(serverSpan.attributes["url.path"]).toBe("/orders/7f1c2a");
    expect(serverSpan.attributes["http.route"]).toBeUndefined();
  });

  it("setHttpRoute outside an inbound request does nothing", () => {
    expect(setHttpRoute("/x")).toBe(false);
  });

  it("traces the default-import http.get as well as the named import", async () => {
    telemetry = initTelemetry({ serviceName: "http-test", exporter: "memory" });
    const server = await serve((_req, res) => sendJson(res, {}));
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(server.url, resolve));
    res.resume();
    await once(res, "end");
    const spans = await spanCount(telemetry, 2);
    const client = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(serverSpan.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
  });

  it("turns each instrumentation off on request", async () => {
    telemetry = initTelemetry({
      serviceName: "http-test",
      exporter: "memory",
      instrumentations: { http: { outgoing: false }, undici: false },
    });
    const backend = await serve((_req, res) => sendJson(res, {}));
    const front = await serve(async (_req, res) => {
      await (await fetch(backend.url)).text();
      sendJson(res, {});
    });
    await httpGet(front.url);
    const spans = await spanCount(telemetry, 2);
    expect(spans.map((s) => s.kind)).toEqual([SpanKind.SERVER, SpanKind.SERVER]);
    // The fetch was not traced, so the backend span starts a trace of its own.
    expect(spans[0]!.spanContext().traceId).not.toBe(spans[1]!.spanContext().traceId);
  });

  it("traces nothing a function run untraced() does, and keeps tracing what follows", async () => {
    telemetry = initTelemetry({ serviceName: "http-test", exporter: "memory" });
    const seen: Record<string, string>[] = [];
    const backend = await serve((req, res) => {
      seen.push(headersOf(req));
      sendJson(res, {});
    });
    await untraced(async () => {
      await (await fetch(backend.url)).text();
      await httpGet(backend.url);
    });
    await (await fetch(backend.url)).text();
    // The backend (in this process, traced) records a server span for each request; only the last
    // request has a client span, and only it carried a traceparent, so only it shares a trace.
    const spans = await spanCount(telemetry, 4);
    const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
    expect(clients).toHaveLength(1);
    const traceId = clients[0]!.spanContext().traceId;
    expect(spans.filter((s) => s.spanContext().traceId === traceId).map((s) => s.kind)).toHaveLength(2);
    expect(seen.map((headers) => headers.traceparent === undefined)).toEqual([true, true, false]);
  });

  it("keeps the request context active in the handler across awaits", async () => {
    telemetry = initTelemetry({ serviceName: "http-test", exporter: "memory" });
    let seen: string | undefined;
    const server = await serve(async (_req, res) => {
      await new Promise((resolve) => setImmediate(resolve));
      seen = trace.getSpanContext(context.active())?.spanId;
      sendJson(res, {});
    });
    await httpGet(server.url);
    const spans = await spanCount(telemetry, 2);
    expect(seen).toBe(spans.find((s) => s.kind === SpanKind.SERVER)!.spanContext().spanId);
  });
});
