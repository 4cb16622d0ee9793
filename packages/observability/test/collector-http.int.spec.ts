import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { isConfigError } from "@flotilla/resilience";
import { ExportResultCode } from "@opentelemetry/core";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { Agent, request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Collector, startCollector } from "../src/collector/collector.js";
import { isCollectorListenError } from "../src/collector/collector-error.js";
import { ProtobufReader } from "../src/collector/protobuf-reader.js";
import { ProtobufWriter } from "../src/collector/protobuf-writer.js";
import { spanStore } from "../src/collector/span-store.js";
import { checkoutTrace, checkoutTraceId } from "./collector-fixtures.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

let collector: Collector;
let agent: Agent;

beforeEach(async () => {
  collector = await startCollector({ port: 0, maxBodyBytes: 64 * 1024 });
  agent = new Agent();
});

afterEach(async () => {
  await agent.close();
  await collector.close();
});

async function send(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string | Readable } = {},
): Promise<Answer> {
  const res = await request(`${collector.url}${path}`, {
    method: (init.method ?? (init.body === undefined ? "GET" : "POST")) as "GET",
    headers: init.headers ?? {},
    body: init.body ?? null,
    dispatcher: agent,
  });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

const postProtobuf = (body: Buffer | Uint8Array | Readable, headers: Record<string, string> = {}) =>
  send("/v1/traces", {
    body: body instanceof Readable ? body : Buffer.from(body),
    headers: { "content-type": "application/x-protobuf", ...headers },
  });
const postJson = (body: Buffer | string | Uint8Array, headers: Record<string, string> = {}) =>
  send("/v1/traces", {
    body: typeof body === "string" ? body : Buffer.from(body),
    headers: { "content-type": "application/json", ...headers },
  });
const getJson = async (path: string) => {
  const answer = await send(path);
  return { ...answer, json: JSON.parse(answer.body.toString()) };
};

/** Decodes a protobuf `google.rpc.Status` with its BadRequest field violations. */
function decodeStatus(bytes: Buffer): {
  code: number;
  message: string;
  violations: { field: string; description: string }[];
} {
  const status = { code: 0, message: "", violations: [] as { field: string; description: string }[] };
  const reader = new ProtobufReader(bytes);
  while (!reader.done) {
    const tag = reader.tag();
    if (tag >>> 3 === 1) status.code = reader.uint32();
    else if (tag >>> 3 === 2) status.message = reader.string();
    else if (tag >>> 3 === 3) {
      const any = reader.message();
      while (!any.done) {
        const anyTag = any.tag();
        if (anyTag >>> 3 === 1) expect(any.string()).toBe("type.googleapis.com/google.rpc.BadRequest");
        else if (anyTag >>> 3 === 2) {
          const badRequest = any.message();
          while (!badRequest.done) {
            badRequest.tag();
            const violation = badRequest.message();
            violation.tag();
            const field = violation.string();
            violation.tag();
            status.violations.push({ field, description: violation.string() });
          }
        } else any.skip(anyTag & 7);
      }
    } else reader.skip(tag & 7);
  }
  return status;
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<number> {
  return new Promise((resolve) => exporter.export(spans, (result) => resolve(result.code)));
}

/** Polls the stats endpoint until `receiver.requests` reaches `count` (bounded). */
async function untilRequestsSeen(count: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { json } = await getJson("/api/stats");
    if (json.receiver.requests >= count) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`the collector never saw ${count} requests`);
}

/**
 * Starts a POST, on a keep-alive connection of its own, whose body is sent in part and held until
 * `finish` is called.
 */
function heldRequest(body: Buffer, url = collector.url): { finish: () => void; answer: Promise<Answer> } {
  const keepAlive = new HttpAgent({ keepAlive: true });
  const req = httpRequest(`${url}/v1/traces`, {
    method: "POST",
    agent: keepAlive,
    headers: { "content-type": "application/x-protobuf", "content-length": String(body.length) },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
  }).finally(() => keepAlive.destroy());
  req.write(body.subarray(0, 10));
  return { finish: () => req.end(body.subarray(10)), answer };
}

describe("OTLP/HTTP round trip", () => {
  it("takes spans from the SDK's protobuf exporter and serves them back through the query API", async () => {
    const exporter = new ProtobufExporter({ url: `${collector.url}/v1/traces` });
    expect(await exportWith(exporter, await checkoutTrace())).toBe(ExportResultCode.SUCCESS);
    await exporter.shutdown();

    const { status, json: list } = await getJson("/api/traces?service=payments&errorsOnly=true");
    expect(status).toBe(200);
    expect(list.traces).toEqual([
      {
        traceId: checkoutTraceId,
        rootService: "frontend",
        rootOperation: "GET /checkout",
        startMs: 1_735_689_600_000,
        startTimeUnixNano: "1735689600000000000",
        durationMs: 120,
        spanCount: 6,
        errorCount: 1,
        error: true,
        services: ["frontend", "orders", "payments"],
        orphanCount: 0,
      },
    ]);

    const { json: trace } = await getJson(`/api/traces/${checkoutTraceId}`);
    expect(
      trace.spans.map(
        (s: { depth: number; service: string; name: string }) => `${s.depth} ${s.service} ${s.name}`,
      ),
    ).toEqual([
      "0 frontend GET /checkout",
      "1 frontend POST orders",
      "2 orders POST /orders",
      "3 orders db insert",
      "3 orders charge",
      "4 payments charge",
    ]);
    const insert = trace.spans[3];
    expect(insert).toMatchObject({
      spanId: "0000000000000004",
      parentSpanId: "0000000000000003",
      startTimeUnixNano: "1735689600020000000",
      endTimeUnixNano: "1735689600040000123",
      durationMs: 20.000123,
      attributes: { "db.system": "postgresql", "db.rows": 3, "db.tags": ["a", "b"] },
      resource: { "service.name": "orders" },
      orphan: false,
      childCount: 0,
    });
    expect(trace.spans[5].status).toEqual({ code: 2, message: "card declined" });
  });

  it("takes gzip-compressed OTLP/JSON from the SDK's JSON exporter", async () => {
    const exporter = new JsonExporter({ url: `${collector.url}/v1/traces`, compression: "gzip" as never });
    expect(await exportWith(exporter, await checkoutTrace())).toBe(ExportResultCode.SUCCESS);
    await exporter.shutdown();
    expect(collector.store.getTrace(checkoutTraceId)?.spanCount).toBe(6);
    expect(collector.store.stats()).toMatchObject({ traces: 1, spans: 6 });
  });

  it("answers in the request's encoding: an empty ExportTraceServiceResponse on full success", async () => {
    const spans = await checkoutTrace();
    const proto = await postProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!);
    expect(proto.status).toBe(200);
    expect(proto.headers["content-type"]).toBe("application/x-protobuf");
    expect(proto.body.length).toBe(0);
    const json = await postJson(Buffer.from(gzipSync(JsonTraceSerializer.serializeRequest(spans)!)), {
      "content-encoding": "gzip",
    });
    expect(json.status).toBe(200);
    expect(json.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(json.body.toString())).toEqual({});
    // The second copy of the same spans is a retry: stored once.
    expect(collector.store.stats()).toMatchObject({ spans: 6, duplicateSpans: 6 });
  });

  it("reports rejected spans as a partial success, in JSON and protobuf", async () => {
    const span = (traceId: string, spanId: string) => ({
      traceId,
      spanId,
      name: "op",
      startTimeUnixNano: "1",
      endTimeUnixNano: "2",
    });
    const body = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                span(checkoutTraceId, "0000000000000001"),
                span("", "0000000000000002"),
                span(checkoutTraceId, "0".repeat(16)),
              ],
            },
          ],
        },
      ],
    });
    const json = await postJson(body);
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body.toString())).toEqual({
      partialSuccess: {
        rejectedSpans: "2",
        errorMessage:
          "2 spans rejected: resourceSpans[0].scopeSpans[0].spans[1]: trace id is missing or all zeros; resourceSpans[0].scopeSpans[0].spans[2]: span id is missing or all zeros",
      },
    });

    const zeroIds = new ProtobufWriter()
      .bytes(1, Buffer.alloc(16))
      .bytes(2, Buffer.alloc(8, 1))
      .string(5, "zero");
    const request = new ProtobufWriter()
      .message(1, new ProtobufWriter().message(2, new ProtobufWriter().message(2, zeroIds)))
      .finish();
    const proto = await postProtobuf(request);
    expect(proto.status).toBe(200);
    expect(ProtobufTraceSerializer.deserializeResponse(proto.body)).toEqual({
      partialSuccess: {
        rejectedSpans: 1,
        errorMessage:
          "1 spans rejected: resourceSpans[0].scopeSpans[0].spans[0]: trace id is missing or all zeros",
      },
    });
    expect(collector.store.stats()).toMatchObject({ spans: 1 });
  });

  it("refuses spans past maxSpansPerTrace as a partial success", async () => {
    await collector.close();
    collector = await startCollector({ port: 0, maxSpans: 10, maxSpansPerTrace: 4 });
    const answer = await postProtobuf(ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!);
    expect(ProtobufTraceSerializer.deserializeResponse(answer.body)).toEqual({
      partialSuccess: {
        rejectedSpans: 2,
        errorMessage: `2 spans rejected: 2 spans over maxSpansPerTrace (4) in trace ${checkoutTraceId}`,
      },
    });
  });
});

describe("bad input", () => {
  const valid = async () => ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!;
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));

  it.each([
    {
      case: "garbage bytes",
      post: () => postProtobuf(Buffer.from("this is not protobuf at all, just some text")),
      status: 400,
      message: /^cannot decode the protobuf ExportTraceServiceRequest: /,
    },
    {
      case: "truncated protobuf",
      post: async () => postProtobuf((await valid()).subarray(0, 100)),
      status: 400,
      message: /truncated/,
      violation: { field: "resource_spans[0]", description: expect.stringMatching(/^truncated: length/) },
    },
    {
      case: "a trace id of the wrong length",
      post: () =>
        postProtobuf(
          new ProtobufWriter()
            .message(
              1,
              new ProtobufWriter().message(
                2,
                new ProtobufWriter().message(2, new ProtobufWriter().bytes(1, Buffer.alloc(12, 7))),
              ),
            )
            .finish(),
        ),
      status: 400,
      message: /trace_id: expected 16 bytes, got 12/,
      violation: {
        field: "resource_spans[0].scope_spans[0].spans[0].trace_id",
        description: expect.stringMatching(/^expected 16 bytes, got 12/),
      },
    },
    {
      case: "a body over maxBodyBytes, with content-length",
      post: () => postProtobuf(Buffer.alloc(100 * 1024, 1)),
      status: 413,
      message: /^request body exceeds the limit of 65536 bytes$/,
    },
    {
      case: "a body over maxBodyBytes, streamed without content-length",
      post: () => postProtobuf(Readable.from([Buffer.alloc(40 * 1024, 1), Buffer.alloc(40 * 1024, 1)])),
      status: 413,
      message: /exceeds the limit of 65536 bytes/,
    },
    {
      case: "a gzip bomb (64 MiB of zeros in a small body)",
      post: () => postProtobuf(bomb, { "content-encoding": "gzip" }),
      status: 413,
      message: /^request body after gzip decompression exceeds the limit of 65536 bytes$/,
    },
    {
      case: "a body that is not gzip but says it is",
      post: () => postProtobuf(Buffer.from("plain"), { "content-encoding": "gzip" }),
      status: 400,
      message: /^body: invalid gzip data/,
    },
    {
      case: "an unsupported content encoding",
      post: () => postProtobuf(Buffer.from("x"), { "content-encoding": "br" }),
      status: 415,
      message: /content-encoding "br" is not supported/,
    },
  ])(
    "answers $case with $status and a protobuf Status, and keeps serving",
    async ({ post, status, message, violation }) => {
      const answer = await post();
      expect(answer.status).toBe(status);
      expect(answer.headers["content-type"]).toBe("application/x-protobuf");
      const decoded = decodeStatus(answer.body);
      expect(decoded.message).toMatch(message);
      if (violation) expect(decoded.violations).toEqual([violation]);
      expect((await postProtobuf(await valid())).status).toBe(200);
      expect(collector.store.getTrace(checkoutTraceId)?.spanCount).toBe(6);
    },
  );

  it.each([
    {
      case: "invalid JSON",
      post: () => postJson('{"resourceSpans":[{'),
      status: 400,
      body: {
        code: 3,
        message: expect.stringMatching(
          /^cannot decode the OTLP\/JSON ExportTraceServiceRequest: body: invalid JSON/,
        ),
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            fieldViolations: [{ field: "body", description: expect.stringMatching(/^invalid JSON/) }],
          },
        ],
      },
    },
    {
      case: "a span id of the wrong length",
      post: () =>
        postJson(
          JSON.stringify({
            resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: checkoutTraceId, spanId: "abc" }] }] }],
          }),
        ),
      status: 400,
      body: {
        code: 3,
        message: expect.stringContaining(
          "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected 16 hex digits (8 bytes), got 3",
        ),
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            fieldViolations: [
              {
                field: "resourceSpans[0].scopeSpans[0].spans[0].spanId",
                description: "expected 16 hex digits (8 bytes), got 3",
              },
            ],
          },
        ],
      },
    },
    {
      case: "a wrong content type",
      post: () => send("/v1/traces", { body: "hello", headers: { "content-type": "text/plain" } }),
      status: 415,
      body: {
        code: 3,
        message: 'content-type "text/plain" is not supported; use application/x-protobuf or application/json',
      },
    },
    {
      case: "a missing content type",
      post: () => send("/v1/traces", { body: "hello" }),
      status: 415,
      body: { code: 3, message: "missing content-type; use application/x-protobuf or application/json" },
    },
    {
      case: "GET on the OTLP endpoint",
      post: () => send("/v1/traces"),
      status: 405,
      body: { code: 12, message: "GET is not allowed on /v1/traces; OTLP/HTTP exports are POSTed" },
    },
  ])("answers $case with $status and a JSON Status, and keeps serving", async ({ post, status, body }) => {
    const answer = await post();
    expect(answer.status).toBe(status);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(answer.body.toString())).toEqual(body);
    expect((await postJson(JsonTraceSerializer.serializeRequest(await checkoutTrace())!)).status).toBe(200);
    expect(collector.store.getTrace(checkoutTraceId)?.spanCount).toBe(6);
  });

  it("cuts a client that keeps sending far past the limit, and keeps serving others", async () => {
    // 64 KiB limit; 4 × that may be drained; this sends 1 MiB without a length.
    const huge = Readable.from(Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 1)));
    const outcome = await postProtobuf(huge).then(
      (answer) => `${answer.status} connection: ${answer.headers.connection}`,
      (error: Error) => error.message,
    );
    // Either the 413 got through before the cut, or the connection was reset under the upload;
    // never a drained, kept-alive connection.
    expect([
      "413 connection: close",
      "other side closed",
      "socket hang up",
      "write EPIPE",
      "read ECONNRESET",
    ]).toContain(outcome);
    expect((await postProtobuf(await valid())).status).toBe(200);
  });
});

describe("query API", () => {
  beforeEach(async () => {
    await postProtobuf(ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!);
  });

  it("serves the dependency graph, services, operations and stats", async () => {
    const { json: graph } = await getJson("/api/dependencies");
    expect(graph.edges).toEqual([
      { caller: "frontend", callee: "orders", calls: 1, errors: 0, errorRate: 0, p50Ms: 78, p99Ms: 78 },
      { caller: "orders", callee: "payments", calls: 1, errors: 1, errorRate: 1, p50Ms: 33, p99Ms: 33 },
    ]);
    expect((await getJson("/api/dependencies?from=2030-01-01T00:00:00Z")).json).toEqual({
      nodes: [],
      edges: [],
    });
    expect((await getJson("/api/services")).json).toEqual({ services: ["frontend", "orders", "payments"] });
    expect((await getJson("/api/services/orders/operations")).json).toEqual({
      operations: ["POST /orders", "charge", "db insert"],
    });
    const { json: stats } = await getJson("/api/stats");
    expect(stats.store).toMatchObject({ traces: 1, spans: 6, services: 3 });
    expect(stats.receiver).toMatchObject({
      requests: 1,
      acceptedSpans: 6,
      rejectedSpans: 0,
      failedRequests: 0,
    });
  });

  it("filters the trace list from query parameters", async () => {
    const ids = async (query: string) =>
      (await getJson(`/api/traces?${query}`)).json.traces.map((t: { traceId: string }) => t.traceId);
    expect(await ids("service=orders&operation=db%20insert")).toEqual([checkoutTraceId]);
    expect(await ids("service=frontend&operation=db%20insert")).toEqual([]);
    expect(await ids("minDuration=121ms")).toEqual([]);
    expect(await ids("minDuration=120")).toEqual([checkoutTraceId]);
    expect(await ids("from=1735689600000&to=1735689600000&limit=1")).toEqual([checkoutTraceId]);
    expect(await ids("from=2025-01-01T00:00:00.001Z")).toEqual([]);
  });

  it("answers bad parameters and unknown traces with RFC 9457 problems", async () => {
    const bad = await getJson("/api/traces?limit=5000&errorsOnly=maybe&colour=red");
    expect(bad.status).toBe(400);
    expect(bad.headers["content-type"]).toBe("application/problem+json");
    expect(bad.json).toMatchObject({
      type: "about:blank",
      title: "Bad Request",
      status: 400,
      code: "FLT_COLLECTOR_INVALID_QUERY",
    });
    expect(bad.json.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "colour",
      "errorsOnly",
      "limit",
    ]);

    expect((await getJson("/api/traces/not-a-trace-id")).json).toMatchObject({
      status: 400,
      code: "FLT_COLLECTOR_INVALID_QUERY",
    });
    expect((await getJson(`/api/traces/${"f".repeat(32)}`)).json).toMatchObject({
      status: 404,
      detail: `trace ${"f".repeat(32)} is not in the store`,
    });
    expect((await getJson("/api/nothing")).status).toBe(404);
    expect((await getJson("/elsewhere")).json).toMatchObject({ status: 404, title: "Not Found" });
    const post = await send("/api/traces", { body: "{}", headers: { "content-type": "application/json" } });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });
});

describe("server lifecycle", () => {
  it("answers 429 with Retry-After while maxConcurrentExports are in flight", async () => {
    await collector.close();
    collector = await startCollector({ port: 0, maxConcurrentExports: 1 });
    const body = ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!;
    const held = heldRequest(Buffer.from(body));
    await untilRequestsSeen(1);
    const refused = await postProtobuf(body);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(decodeStatus(refused.body).message).toBe("too many exports in flight (1); retry later");
    held.finish();
    const answer = await held.answer;
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("keep-alive");
    expect((await postProtobuf(body)).status).toBe(200);
  });

  it("closes: stops accepting, ends idle keep-alive connections, lets a request in progress finish", async () => {
    expect((await send("/api/services")).status).toBe(200); // leaves an idle keep-alive connection in the agent
    const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!);
    const held = heldRequest(body);
    await untilRequestsSeen(1);
    let closed = false;
    const closing = collector.close().then(() => {
      closed = true;
    });
    expect(collector.close()).toBe(collector.close());
    await new Promise<void>((resolve, reject) => {
      const socket = connect(collector.port, "127.0.0.1");
      socket.on("connect", () => reject(new Error("a new connection was accepted while closing")));
      socket.on("error", () => resolve());
    });
    expect(closed).toBe(false);
    held.finish();
    const answer = await held.answer;
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("close");
    await closing;
    expect(collector.store.spanCount).toBe(6);
  });

  it("cuts requests still in progress after closeTimeout", async () => {
    await collector.close();
    collector = await startCollector({ port: 0, closeTimeout: 10 });
    const held = heldRequest(Buffer.alloc(1000));
    await untilRequestsSeen(1);
    await collector.close();
    await expect(held.answer).rejects.toThrow(/socket hang up|ECONNRESET/);
  });

  it("fails with a coded error when the port is taken, and validates its options", async () => {
    const error = await startCollector({ port: collector.port }).catch((e: unknown) => e);
    expect(isCollectorListenError(error)).toBe(true);
    expect((error as Error).message).toBe(
      `trace collector cannot listen on 127.0.0.1:${collector.port}: the address is already in use`,
    );

    const invalid = await startCollector({
      port: 70_000,
      maxBodyBytes: 10,
      store: spanStore(),
      maxSpans: 5,
      hots: "x",
    } as never).catch((e: unknown) => e);
    expect(isConfigError(invalid)).toBe(true);
    if (!isConfigError(invalid)) return;
    expect(invalid.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(/^hots: unknown option/),
      "port: must be at most 65535, got 70000",
      "maxBodyBytes: must be at least 1024, got 10",
      "maxSpans: not allowed with store: configure the retention of the store you pass",
    ]);
  });

  it("serves a store it is given, on the default loopback host", async () => {
    const store = spanStore({ maxSpans: 50 });
    const other = await startCollector({ port: 0, store });
    try {
      expect(other.store).toBe(store);
      expect(other.url).toBe(`http://127.0.0.1:${other.port}`);
      const res = await request(`${other.url}/v1/traces`, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: Buffer.from(ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!),
        dispatcher: agent,
      });
      await res.body.arrayBuffer();
      expect(store.spanCount).toBe(6);
    } finally {
      await other.close();
    }
  });
});
