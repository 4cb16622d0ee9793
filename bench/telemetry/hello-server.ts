// The telemetry benchmark's node:http hello-world, bare or instrumented, as a server that does not
// listen yet: server.ts runs it under wrk, request-cost.ts feeds it requests in process.
import { createServer, type RequestListener, type Server } from "node:http";
import {
  createLogger,
  createMetrics,
  initTelemetry,
  instrumentServer,
  setHttpRoute,
  traceHttpServer,
} from "@flotilla/observability";

/** `bare`: no instrumentation; `sampled`: 10 % of requests traced; `full`: all of them. */
export type HelloMode = "bare" | "sampled" | "full";

/** Narrows a command-line argument to a {@link HelloMode}. */
export function isHelloMode(value: string | undefined): value is HelloMode {
  return value === "bare" || value === "sampled" || value === "full";
}

/**
 * The hello-world server. Instrumented: tracing exported over OTLP/HTTP to the collector the
 * benchmark runs (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) unless `exporter` says otherwise, Prometheus
 * metrics for every request, and one JSON access-log line per request on stdout.
 * FLOTILLA_BENCH_PARTS=trace,metrics,log (default: all) isolates the cost of each part when profiling.
 */
export function helloServer(mode: HelloMode, exporter?: "none"): Server {
  if (mode === "bare") {
    return createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("hello");
    });
  }
  const parts = new Set((process.env.FLOTILLA_BENCH_PARTS ?? "trace,metrics,log").split(","));
  if (parts.has("trace"))
    initTelemetry({
      serviceName: "bench-hello",
      sampleRatio: mode === "full" ? 1 : 0.1,
      ...(exporter === undefined ? {} : { exporter }),
      // Inbound spans come from traceHttpServer below, which samples before it builds anything.
      instrumentations: { http: false, undici: false, pg: false },
    });
  const metrics = createMetrics({ service: "bench-hello", instanceId: "bench-1", collectDefaults: false });
  const log = parts.has("log")
    ? createLogger({ service: "bench-hello", instanceId: "bench-1", pretty: false })
    : undefined;
  const handler: RequestListener = (req, res) => {
    setHttpRoute("/hello");
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("hello");
    log?.info({ method: req.method, route: "/hello", status: 200 }, "request");
  };
  const server = createServer(parts.has("trace") ? traceHttpServer(handler) : handler);
  if (parts.has("metrics")) instrumentServer(server, metrics, { route: () => "/hello" });
  return server;
}
