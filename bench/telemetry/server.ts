// One contender of the telemetry benchmark: a node:http hello-world, bare or fully instrumented.
// `node server.ts <bare|full|sampled>`; prints {"port": N} on stderr; stdout carries the access log.
import { createServer, type RequestListener } from "node:http";
import {
  createLogger,
  createMetrics,
  initTelemetry,
  instrumentServer,
  setHttpRoute,
  traceHttpServer,
} from "@flotilla/observability";

const mode = process.argv[2] ?? "bare";

let handler: RequestListener;
let server: ReturnType<typeof createServer>;

if (mode === "bare") {
  handler = (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("hello");
  };
  server = createServer(handler);
} else {
  // Tracing exported over OTLP/HTTP to the collector the benchmark runs (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
  // Prometheus metrics for every request, and one JSON access-log line per request.
  // FLOTILLA_BENCH_PARTS=trace,metrics,log (default: all) isolates the cost of each part when profiling.
  const parts = new Set((process.env.FLOTILLA_BENCH_PARTS ?? "trace,metrics,log").split(","));
  if (parts.has("trace"))
    initTelemetry({
      serviceName: "bench-hello",
      sampleRatio: mode === "full" ? 1 : 0.1,
      // Inbound spans come from traceHttpServer below, which samples before it builds anything.
      instrumentations: { http: false, undici: false, pg: false },
    });
  const metrics = createMetrics({ service: "bench-hello", instanceId: "bench-1", collectDefaults: false });
  const log = parts.has("log")
    ? createLogger({ service: "bench-hello", instanceId: "bench-1", pretty: false })
    : undefined;
  handler = (req, res) => {
    setHttpRoute("/hello");
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("hello");
    log?.info({ method: req.method, route: "/hello", status: 200 }, "request");
  };
  server = createServer(parts.has("trace") ? traceHttpServer(handler) : handler);
  if (parts.has("metrics")) instrumentServer(server, metrics, { route: () => "/hello" });
}

server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stderr.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
