import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { setFlagsFromString } from "node:v8";
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import { SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";
import { afterEach, describe, expect, it } from "vitest";
import { setHttpRoute } from "../src/tracing/http-route.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import type { TelemetryOptions } from "../src/tracing/telemetry-options.js";
import {
  type HttpHandler,
  type TraceHttpServerOptions,
  traceHttpServer,
} from "../src/tracing/trace-http-server.js";
import { rawGet, sendJson, spansWhen, type TestServer } from "./tracing-support.js";

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
  telemetry = initTelemetry({
    serviceName: "wrapper-test",
    exporter: "memory",
    instrumentations: { http: { incoming: false }, pg: false },
    ...options,
  });
  return telemetry;
}

async function serveWrapped(handler: HttpHandler, options?: TraceHttpServerOptions): Promise<TestServer> {
  const server = createServer(traceHttpServer(handler, options));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const wrapped: TestServer = {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
  servers.push(wrapped);
  return wrapped;
}

async function serverSpans(t: Telemetry, count = 1) {
  return (await spansWhen(t, (s) => s.filter((x) => x.kind === SpanKind.SERVER).length >= count)).filter(
    (s) => s.kind === SpanKind.SERVER,
  );
}

describe("traceHttpServer", () => {
  it("gives each request a server span with the semantic-convention attributes and the route name", async () => {
    const t = start();
    const server = await serveWrapped((_req, res) => {
      setHttpRoute("/users/:id");
      sendJson(res, {});
    });
    const status = await rawGet(server.port, "/users/42?secret=x", {
      "user-agent": "probe/1.0",
      "x-forwarded-for": "203.0.113.7, 10.0.0.1",
    });
    expect(status).toBe(200);
    const [span] = await serverSpans(t);
    expect(span!.name).toBe("GET /users/:id");
    expect(span!.attributes).toEqual({
      "http.request.method": "GET",
      "url.scheme": "http",
      "url.path": "/users/42",
      "server.address": "127.0.0.1",
      "server.port": server.port,
      "client.address": "203.0.113.7",
      "network.peer.address": "127.0.0.1",
      "network.peer.port": expect.any(Number),
      "network.protocol.version": "1.1",
      "user_agent.original": "probe/1.0",
      "http.route": "/users/:id",
      "http.response.status_code": 200,
    });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.instrumentationScope.name).toBe("@flotilla/observability/http-server");
  });

  it("takes the route from options.route, and names by method alone without one", async () => {
    const t = start();
    const routed = await serveWrapped((_req, res) => sendJson(res, {}), {
      route: (req) => (req.url?.startsWith("/orders/") ? "/orders/:id" : undefined),
    });
    await rawGet(routed.port, "/orders/9", {});
    await rawGet(routed.port, "/other/9", {});
    const spans = await serverSpans(t, 2);
    expect(spans.map((s) => s.name).sort()).toEqual(["GET", "GET /orders/:id"]);
  });

  it("continues a W3C or B3 parent and starts a new trace for a malformed traceparent", async () => {
    const t = start();
    const server = await serveWrapped((_req, res) => sendJson(res, {}));
    await rawGet(server.port, "/", { traceparent: `00-${traceId}-${spanId}-01` });
    await rawGet(server.port, "/", { "x-b3-traceid": traceId, "x-b3-spanid": spanId, "x-b3-sampled": "1" });
    await rawGet(server.port, "/", { traceparent: `ff-${traceId}-${spanId}-01` });
    const spans = await serverSpans(t, 3);
    const continued = spans.filter((s) => s.spanContext().traceId === traceId);
    expect(continued).toHaveLength(2);
    for (const s of continued) expect(s.parentSpanContext?.spanId).toBe(spanId);
    const fresh = spans.find((s) => s.spanContext().traceId !== traceId)!;
    expect(fresh.parentSpanContext).toBeUndefined();
  });

  it("reads propagation headers whatever the case of their names", async () => {
    const t = start();
    const server = await serveWrapped((_req, res) => sendJson(res, {}));
    await rawGet(server.port, "/", { TraceParent: `00-${traceId}-${spanId}-01` });
    await rawGet(server.port, "/", { "X-B3-TraceId": traceId, "X-B3-SpanId": spanId, "X-B3-Sampled": "1" });
    const spans = await serverSpans(t, 2);
    for (const s of spans) {
      expect(s.spanContext().traceId).toBe(traceId);
      expect(s.parentSpanContext?.spanId).toBe(spanId);
    }
  });

  it("decides on a new trace as the SDK's ratio sampler does on its id, and records the id it decided on", async () => {
    const t = start({ sampleRatio: 0.5 });
    const seen: { traceId: string; spanId: string; sampled: boolean; traceparent: string }[] = [];
    const server = await serveWrapped((_req, res) => {
      const ids = trace.getSpanContext(context.active())!;
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      seen.push({
        traceId: ids.traceId,
        spanId: ids.spanId,
        sampled: (ids.traceFlags & TraceFlags.SAMPLED) !== 0,
        traceparent: carrier.traceparent!,
      });
      sendJson(res, {});
    });
    for (let i = 0; i < 40; i++) await rawGet(server.port, "/", {});
    const ratio = new TraceIdRatioBasedSampler(0.5);
    const expected = seen.filter(
      (r) => ratio.shouldSample(ROOT_CONTEXT, r.traceId).decision === SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(seen.length);
    for (const r of seen) {
      expect(r.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(r.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(r.sampled).toBe(expected.includes(r));
      expect(r.traceparent).toBe(`00-${r.traceId}-${r.spanId}-${r.sampled ? "01" : "00"}`);
    }
    const spans = await serverSpans(t, expected.length);
    expect(spans.map((s) => s.spanContext().spanId).sort()).toEqual(expected.map((r) => r.spanId).sort());
    expect(new Set(seen.map((r) => r.traceId)).size).toBe(seen.length);
  });

  it("marks 5xx responses as errors and 4xx not", async () => {
    const t = start();
    const server = await serveWrapped((req, res) => {
      res.statusCode = req.url === "/boom" ? 503 : 404;
      res.end();
    });
    await rawGet(server.port, "/boom", {});
    await rawGet(server.port, "/missing", {});
    const spans = await serverSpans(t, 2);
    const failed = spans.find((s) => s.attributes["http.response.status_code"] === 503)!;
    const missing = spans.find((s) => s.attributes["http.response.status_code"] === 404)!;
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes["error.type"]).toBe("503");
    expect(missing.status.code).toBe(SpanStatusCode.UNSET);
    expect(missing.attributes["error.type"]).toBeUndefined();
  });

  it("keeps the request context in callback-style body listeners and across awaits", async () => {
    const t = start();
    const seen: (string | undefined)[] = [];
    const server = await serveWrapped((req: IncomingMessage, res: ServerResponse) => {
      req.on("data", () => seen.push(trace.getSpanContext(context.active())?.spanId));
      req.on("end", async () => {
        seen.push(trace.getSpanContext(context.active())?.spanId);
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(trace.getSpanContext(context.active())?.spanId);
        sendJson(res, {});
      });
    });
    const res = await fetch(server.url, { method: "POST", body: "payload" });
    await res.text();
    const [span] = await serverSpans(t);
    const own = span!.spanContext().spanId;
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((id) => id === own)).toBe(true);
  });

  it("runs once-listeners once in the request context, and removes a bound listener by the function added", async () => {
    const t = start();
    const seen: string[] = [];
    let removedFired = false;
    let otherRequestBound: boolean | undefined;
    const server = await serveWrapped((req: IncomingMessage, res: ServerResponse) => {
      const own = trace.getSpanContext(context.active())?.spanId;
      const removed = () => {
        removedFired = true;
      };
      req.on("data", removed);
      req.removeListener("data", removed);
      req.once("data", () => seen.push(`data ${trace.getSpanContext(context.active())?.spanId === own}`));
      req.prependOnceListener("end", () => {
        seen.push(`end ${trace.getSpanContext(context.active())?.spanId === own}`);
        // A request this one's handler makes: its response is an IncomingMessage too, and not bound.
        const probe = new (req.constructor as typeof IncomingMessage)(req.socket);
        context.with(ROOT_CONTEXT, () =>
          probe.on("probe", () => {
            otherRequestBound = trace.getSpanContext(context.active()) !== undefined;
          }),
        );
        context.with(ROOT_CONTEXT, () => probe.emit("probe"));
        sendJson(res, {});
      });
    });
    const res = await fetch(server.url, { method: "POST", body: "payload" });
    await res.text();
    await serverSpans(t);
    expect(seen).toEqual(["data true", "end true"]);
    expect(removedFired).toBe(false);
    expect(otherRequestBound).toBe(false);
  });

  it("keeps an unsampled request's context in its body listeners too", async () => {
    start({ sampleRatio: 0 });
    const seen: (string | undefined)[] = [];
    let own: string | undefined;
    const server = await serveWrapped((req: IncomingMessage, res: ServerResponse) => {
      own = trace.getSpanContext(context.active())?.spanId;
      req.on("data", () => seen.push(trace.getSpanContext(context.active())?.spanId));
      req.once("end", () => {
        seen.push(trace.getSpanContext(context.active())?.spanId);
        sendJson(res, {});
      });
    });
    await (await fetch(server.url, { method: "POST", body: "payload" })).text();
    expect(own).toMatch(/^[0-9a-f]{16}$/);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((id) => id === own)).toBe(true);
  });

  it("gives sampled and unsampled requests, responses and sockets the same hidden classes", async () => {
    // Objects of one kind with different hidden classes make every node:http and node:net
    // function that touches them polymorphic for all requests, sampled or not.
    setFlagsFromString("--allow-natives-syntax");
    const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;
    const t = start();
    const seen: { req: IncomingMessage; res: ServerResponse; sampled: boolean }[] = [];
    const server = await serveWrapped((req: IncomingMessage, res: ServerResponse) => {
      seen.push({ req, res, sampled: trace.getSpan(context.active())?.isRecording() === true });
      sendJson(res, {});
    });
    // Each request first on a connection of its own; the parent's flag decides the sampling.
    await rawGet(server.port, "/", { traceparent: `00-${traceId}-${spanId}-01` });
    await rawGet(server.port, "/", { traceparent: `00-${traceId}-${spanId}-00` });
    await serverSpans(t);
    const [sampled, unsampled] = seen;
    expect([sampled?.sampled, unsampled?.sampled]).toEqual([true, false]);
    expect(sameMap(sampled!.req, unsampled!.req)).toBe(true);
    expect(sameMap(sampled!.res, unsampled!.res)).toBe(true);
    expect(sameMap(sampled!.req.socket, unsampled!.req.socket)).toBe(true);
  });

  it("propagates an unsampled decision without recording", async () => {
    const t = start({ sampleRatio: 0 });
    let outbound: string | undefined;
    const backend = await serveWrapped((req, res) => {
      outbound = req.headers.traceparent as string | undefined;
      sendJson(res, {});
    });
    const front = await serveWrapped(async (_req, res) => {
      await (await fetch(backend.url)).text();
      sendJson(res, {});
    });
    await rawGet(front.port, "/", { traceparent: `00-${traceId}-${spanId}-00` });
    expect(outbound).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    expect(outbound).not.toContain(spanId);
    await t.forceFlush();
    expect(t.finishedSpans()).toEqual([]);
  });

  it("makes the server span the parent of outbound calls", async () => {
    const t = start();
    const backend = await serveWrapped((_req, res) => sendJson(res, {}));
    const front = await serveWrapped(async (_req, res) => {
      await (await fetch(backend.url)).text();
      sendJson(res, {});
    });
    await rawGet(front.port, "/front", {});
    const spans = await spansWhen(t, (s) => s.length >= 3);
    const client = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const [first, second] = spans.filter((s) => s.kind === SpanKind.SERVER);
    const frontSpan = first!.attributes["url.path"] === "/front" ? first! : second!;
    const backendSpan = frontSpan === first ? second! : first!;
    expect(client.parentSpanContext?.spanId).toBe(frontSpan.spanContext().spanId);
    expect(backendSpan.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
  });

  it("ends the span as aborted when the client goes away before the response", async () => {
    const t = start();
    const arrived = Promise.withResolvers<void>();
    const server = await serveWrapped(() => arrived.resolve());
    const socket = connect(server.port, "127.0.0.1");
    await once(socket, "connect");
    socket.write(`GET /slow HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n\r\n`);
    await arrived.promise;
    socket.destroy();
    const [span] = await serverSpans(t);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes["error.type"]).toBe("aborted");
  });

  it("skips ignored requests", async () => {
    const t = start();
    const server = await serveWrapped((_req, res) => sendJson(res, {}), {
      ignore: (req) => req.url === "/health",
    });
    await rawGet(server.port, "/health", {});
    await rawGet(server.port, "/work", {});
    const spans = await serverSpans(t);
    expect(spans.map((s) => s.attributes["url.path"])).toEqual(["/work"]);
  });

  it("records a handler that throws, and rethrows", async () => {
    const t = start();
    const wrapped = traceHttpServer(() => {
      throw new RangeError("bad input");
    });
    const server = createServer((req, res) => {
      try {
        wrapped(req, res);
      } catch {
        res.statusCode = 500;
        res.end();
      }
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    servers.push({
      server,
      port,
      url: "",
      close: async () => {
        const closed = once(server, "close");
        server.close();
        server.closeAllConnections();
        await closed;
      },
    });
    await rawGet(port, "/", {});
    const [span] = await serverSpans(t);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes["error.type"]).toBe("RangeError");
    expect(span!.events.map((e) => e.name)).toEqual(["exception"]);
  });

  it("steps aside when the official instrumentation already traces the request", async () => {
    const t = start({ instrumentations: { pg: false } });
    const server = await serveWrapped((_req, res) => sendJson(res, {}));
    await rawGet(server.port, "/", {});
    const spans = await serverSpans(t);
    await t.forceFlush();
    expect(t.finishedSpans().filter((s) => s.kind === SpanKind.SERVER)).toHaveLength(1);
    expect(spans[0]!.instrumentationScope.name).toBe("@opentelemetry/instrumentation-http");
  });
});
