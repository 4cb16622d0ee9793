import { once } from "node:events";
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from "node:http";
import { connect } from "node:net";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import type { Telemetry } from "../src/tracing/telemetry.js";

/** A server listening on 127.0.0.1 with an ephemeral port. */
export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a `node:http` server on 127.0.0.1:0. */
export async function listen(handler: RequestListener): Promise<TestServer> {
  const server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    server,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** What a stand-in collector received in one request. */
export interface ReceivedExport {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** A stand-in OTLP/HTTP collector and the requests it received. */
export interface FakeCollector {
  readonly server: TestServer;
  readonly received: ReceivedExport[];
  /** How many responses have closed (after which a traced server would have ended its span). */
  responsesClosed(): number;
}

/** Starts a stand-in OTLP/HTTP collector that records each request and answers 200. */
export async function fakeCollector(): Promise<FakeCollector> {
  const received: ReceivedExport[] = [];
  let closed = 0;
  const server = await listen(async (req, res) => {
    res.on("close", () => closed++);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const contentType = req.headers["content-type"];
    received.push({
      method: req.method ?? "",
      path: req.url ?? "",
      contentType,
      body: Buffer.concat(chunks),
    });
    res.writeHead(200, { "content-type": contentType ?? "application/json" });
    res.end(contentType === "application/json" ? "{}" : "");
  });
  return { server, received, responsesClosed: () => closed };
}

/** Answers 200 with `body` as JSON. */
export function sendJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** The request headers, for servers that echo what they received. */
export function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers[name] = value;
  }
  return headers;
}

/**
 * Sends one GET over a raw socket with exactly `headers` (no instrumentation can add any) and
 * resolves with the status code once the server closes the connection.
 */
export async function rawGet(port: number, path: string, headers: Record<string, string>): Promise<number> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const lines = [`GET ${path} HTTP/1.1`, `host: 127.0.0.1:${port}`, "connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await once(socket, "close");
  const status = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString("latin1"));
  if (status === null) throw new Error("no HTTP status line in the response");
  return Number(status[1]);
}

/**
 * Waits until the memory exporter holds spans for which `done` is true and returns them. Server
 * spans end when the response closes, which can be after the client has read the response, so
 * tests wait for the observable condition, a bounded number of event-loop turns.
 */
export async function spansWhen(
  telemetry: Telemetry,
  done: (spans: readonly ReadableSpan[]) => boolean,
): Promise<readonly ReadableSpan[]> {
  for (let turn = 0; turn < 10_000; turn++) {
    const spans = telemetry.finishedSpans();
    if (done(spans)) return spans;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`spans never matched; have ${describeSpans(telemetry.finishedSpans())}`);
}

/** Waits for `count` finished spans. */
export function spanCount(telemetry: Telemetry, count: number): Promise<readonly ReadableSpan[]> {
  return spansWhen(telemetry, (spans) => spans.length >= count);
}

/** `name(kind)` of each span, for failure messages. */
export function describeSpans(spans: readonly ReadableSpan[]): string {
  return spans.map((s) => `${s.name}(${s.kind})`).join(", ") || "none";
}

/** The one span named `name` of kind `kind`. */
export function theSpan(spans: readonly ReadableSpan[], name: string, kind: number): ReadableSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${name}(${kind}), have ${describeSpans(spans)}`);
  return found[0]!;
}
