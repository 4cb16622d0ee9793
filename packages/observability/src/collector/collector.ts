import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CollectorListenError } from "./collector-error.js";
import { type CollectorOptions, parseCollectorOptions } from "./collector-options.js";
import { encodeStatus, RpcCode } from "./otlp-response.js";
import { OtlpTraceReceiver } from "./otlp-trace-receiver.js";
import { sendProblem } from "./problem-response.js";
import type { SpanStore } from "./span-store.js";
import { TraceQueryApi } from "./trace-query-api.js";

/** A running embedded trace collector. */
export interface Collector {
  /** Base URL, such as `http://127.0.0.1:4318`; exporters send to `${url}/v1/traces`. */
  readonly url: string;
  readonly host: string;
  /** The port bound (the real one when 0 was asked for). */
  readonly port: number;
  /** The store the collector fills; query it directly in-process. */
  readonly store: SpanStore;
  /**
   * Stops accepting connections, closes idle keep-alive connections at once, lets requests in
   * progress finish (for at most `closeTimeout`, then cuts them), and resolves when the server is
   * closed. Calling it again returns the same promise.
   */
  close(): Promise<void>;
}

/**
 * Starts the embedded trace collector: an OTLP/HTTP receiver (`POST /v1/traces`, protobuf or JSON,
 * gzip or not) and the JSON query API (`GET /api/…`, see {@link TraceQueryApi}) on one HTTP server,
 * over a bounded in-memory {@link SpanStore}. Services in any language export to it with a stock
 * OTLP/HTTP exporter. Rejects with a `ConfigError` for bad options and a `CollectorListenError`
 * (`FLT_COLLECTOR_LISTEN`) when the port cannot be bound.
 *
 * @example
 * ```ts
 * const collector = await startCollector({ port: 4318, maxSpans: 50_000, maxAge: "30m" });
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 for every service
 * const slow = collector.store.listTraces({ service: "orders", minDuration: "250ms" });
 * await collector.close();
 * ```
 */
export async function startCollector(options: CollectorOptions = {}): Promise<Collector> {
  const config = parseCollectorOptions(options);
  const { store } = config;
  const receiver = new OtlpTraceReceiver({
    store,
    maxBodyBytes: config.maxBodyBytes,
    maxConcurrentExports: config.maxConcurrentExports,
  });
  const api = new TraceQueryApi(store, () => ({ store: store.stats(), receiver: receiver.stats() }));
  let closing: Promise<void> | undefined;
  const pending = new Set<ServerResponse>();

  const route = (req: IncomingMessage, res: ServerResponse): void => {
    // A response sent while closing also ends its connection (see close()).
    if (closing !== undefined) res.setHeader("connection", "close");
    else {
      pending.add(res);
      res.once("close", () => pending.delete(res));
    }
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://collector.invalid");
    } catch {
      sendProblem(res, 400, "malformed request target");
      return;
    }
    if (url.pathname === "/v1/traces") {
      if (req.method === "POST") {
        receiver.handle(req, res).catch(() => res.destroy());
        return;
      }
      const body = encodeStatus("json", {
        code: RpcCode.Unimplemented,
        message: `${req.method} is not allowed on /v1/traces; OTLP/HTTP exports are POSTed`,
      });
      res.writeHead(405, {
        allow: "POST",
        "content-type": "application/json",
        "content-length": body.length,
      });
      res.end(body);
    } else if (url.pathname.startsWith("/api/")) {
      api.handle(req, res, url);
    } else {
      sendProblem(res, 404, `no endpoint ${url.pathname}; OTLP/HTTP traces go to POST /v1/traces`);
    }
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      route(req, res);
    } catch (error) {
      sendProblem(res, 500, `internal error: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const server = createServer(
    { requestTimeout: config.requestTimeoutMs, headersTimeout: Math.min(config.requestTimeoutMs, 60_000) },
    handle,
  );
  await listen(server, config.host, config.port);
  // Accept errors (EMFILE …) are the server's to survive, not the process's to crash on.
  server.on("error", () => {});
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = config.host.includes(":") ? `[${config.host}]` : config.host;

  return {
    url: `http://${hostInUrl}:${port}`,
    host: config.host,
    port,
    store,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // Requests in progress get their answer, then their keep-alive connection ends.
        for (const res of pending) if (!res.headersSent) res.setHeader("connection", "close");
        pending.clear();
        const force = setTimeout(() => server.closeAllConnections(), config.closeTimeoutMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: unknown): void => {
      server.off("listening", onListening);
      reject(new CollectorListenError(host, port, error));
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}
