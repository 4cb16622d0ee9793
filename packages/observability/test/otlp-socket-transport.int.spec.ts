import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from "node:net";
import { OTLPExporterError } from "@opentelemetry/otlp-exporter-base";
import { afterEach, describe, expect, it, vi } from "vitest";
import { OtlpSocketTransport } from "../src/tracing/otlp-socket-transport.js";
import { createSpanExport } from "../src/tracing/span-export.js";
import { parseTelemetryOptions } from "../src/tracing/telemetry-options.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingMessage["headers"];
  readonly body: Buffer;
}

/** A node:http server answering every request with `answer`; records requests and connections. */
async function httpServer(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const received: Received[] = [];
  const sockets: Socket[] = [];
  const server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
    answer(req, res);
  });
  server.on("connection", (socket: Socket) => sockets.push(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, received, sockets, connections: () => sockets.length, url: urlOf(server) };
}

/** A raw TCP server; `onData` gets each connection's socket, the number of its connection and the bytes. */
async function rawServer(onData: (socket: Socket, connection: number, data: Buffer) => void) {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (data) => onData(socket, connection, data));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, connections: () => connections, url: urlOf(server) };
}

function urlOf(server: Server | ReturnType<typeof createHttpServer>): URL {
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`);
}

function transport(url: URL, headers: Record<string, string> = { "Content-Type": "application/x-protobuf" }) {
  const t = new OtlpSocketTransport({ url, headers: async () => headers, userAgent: "flotilla-test" });
  cleanups.push(() => t.shutdown());
  return t;
}

const ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

describe("OtlpSocketTransport", () => {
  it("posts the body with the configured headers and reuses one connection", async () => {
    const collector = await httpServer((_req, res) => res.end(Buffer.from([1, 2, 3])));
    const t = transport(collector.url, { "Content-Type": "application/x-protobuf", "X-Tenant": "acme" });
    const first = await t.send(new Uint8Array([10, 20, 30, 40]), 1000);
    const second = await t.send(new Uint8Array([50]), 1000);
    expect(first).toEqual({ status: "success", data: Buffer.from([1, 2, 3]) });
    expect(second.status).toBe("success");
    expect(collector.connections()).toBe(1);
    const [request] = collector.received;
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe("/v1/traces");
    expect(request?.body).toEqual(Buffer.from([10, 20, 30, 40]));
    expect(request?.headers).toMatchObject({
      "content-type": "application/x-protobuf",
      "content-length": "4",
      "x-tenant": "acme",
      host: collector.url.host,
    });
    expect(request?.headers["user-agent"]).toMatch(/^flotilla-test OTel-OTLP-Exporter-JavaScript\//);
  });

  it("answers retryable with the server's Retry-After for 429, 502, 503 and 504", async () => {
    let status = 503;
    const collector = await httpServer((_req, res) => {
      res.writeHead(status, { "retry-after": "2" });
      res.end();
    });
    const t = transport(collector.url);
    for (const code of [429, 502, 503, 504]) {
      status = code;
      expect(await t.send(new Uint8Array([1]), 1000)).toEqual({ status: "retryable", retryInMillis: 2000 });
    }
  });

  it("answers failure with the status and body for other errors", async () => {
    const collector = await httpServer((_req, res) => {
      res.writeHead(400, "Bad Request");
      res.end("unparseable ExportTraceServiceRequest");
    });
    const response = await transport(collector.url).send(new Uint8Array([1]), 1000);
    expect(response.status).toBe("failure");
    const error = (response as { error: OTLPExporterError }).error;
    expect(error).toBeInstanceOf(OTLPExporterError);
    expect(error.code).toBe(400);
    expect(error.data).toBe("unparseable ExportTraceServiceRequest");
  });

  it("sends again on a new connection when a kept-alive one turns out closed", async () => {
    let requests = 0;
    const collector = await rawServer((socket, connection) => {
      requests++;
      // The first connection answers once, then dies on the next request as a server does that
      // closes an idle connection just as the client reuses it.
      if (connection === 1 && requests === 2) socket.destroy();
      else socket.write(ok);
    });
    const t = transport(collector.url);
    expect((await t.send(new Uint8Array([1]), 1000)).status).toBe("success");
    expect((await t.send(new Uint8Array([2]), 1000)).status).toBe("success");
    expect(collector.connections()).toBe(2);
    expect(requests).toBe(3);
  });

  it("does not resend when a new connection closes without an answer", async () => {
    let requests = 0;
    const collector = await rawServer((socket) => {
      requests++;
      socket.destroy();
    });
    const response = await transport(collector.url).send(new Uint8Array([1]), 1000);
    expect(response.status).toBe("retryable");
    expect(requests).toBe(1);
  });

  it("answers retryable when the server does not answer in time, and drops that connection", async () => {
    const collector = await rawServer(() => {});
    const response = await transport(collector.url).send(new Uint8Array([1]), 50);
    expect(response).toMatchObject({ status: "retryable", error: new Error("Request timed out") });
  });

  it("answers retryable when nothing listens", async () => {
    const probe = createNetServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const url = urlOf(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const response = await transport(url).send(new Uint8Array([1]), 1000);
    expect(response.status).toBe("retryable");
    expect((response as { error: NodeJS.ErrnoException }).error.code).toBe("ECONNREFUSED");
  });

  it("answers failure for a malformed response", async () => {
    const collector = await rawServer((socket) => socket.write("SPDY/9 200 OK\r\n\r\n"));
    const response = await transport(collector.url).send(new Uint8Array([1]), 1000);
    expect(response.status).toBe("failure");
    expect((response as { error: Error }).error.message).toMatch(
      /^malformed OTLP response: not an HTTP\/1.x status line/,
    );
  });

  it("refuses a header value with CR or LF before connecting", async () => {
    const collector = await rawServer((socket) => socket.write(ok));
    const response = await transport(collector.url, { "X-Evil": "a\r\nInjected: yes" }).send(
      new Uint8Array([1]),
      1000,
    );
    expect(response.status).toBe("failure");
    expect((response as { error: Error }).error.message).toBe("OTLP header X-Evil contains CR, LF or NUL");
    expect(collector.connections()).toBe(0);
  });

  it("closes its idle connections on shutdown and sends nothing after", async () => {
    const collector = await httpServer((_req, res) => res.end());
    const t = transport(collector.url);
    expect((await t.send(new Uint8Array([1]), 1000)).status).toBe("success");
    const [serverSide] = collector.sockets;
    const closed = once(serverSide as Socket, "close");
    t.shutdown();
    await closed;
    expect((await t.send(new Uint8Array([1]), 1000)).status).toBe("failure");
  });

  it("is what the OTLP exporters send through for plain http, not for https or gzip", () => {
    const exportFor = (
      endpoint: string,
      protocol: "http/protobuf" | "http/json",
      env: Record<string, string> = {},
    ) => {
      const exported = createSpanExport(
        parseTelemetryOptions({ serviceName: "x", exporter: "otlp", endpoint, protocol, env }),
      );
      exported.close();
      return exported.socketTransport;
    };
    expect(exportFor("http://127.0.0.1:4318/v1/traces", "http/protobuf")).toBe(true);
    expect(exportFor("http://127.0.0.1:4318/v1/traces", "http/json")).toBe(true);
    expect(exportFor("https://collector.example:4318/v1/traces", "http/protobuf")).toBe(false);
    vi.stubEnv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip");
    try {
      expect(exportFor("http://127.0.0.1:4318/v1/traces", "http/protobuf")).toBe(false);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
