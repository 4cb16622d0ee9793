import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigReader } from "@flotilla/resilience";
import { collectDefaultMetrics, Registry } from "prom-client";
import { HttpDurationHistogram } from "./http-duration-histogram.js";
import { type MetricsOptions, parseMetricsOptions, type ResolvedMetricsOptions } from "./metrics-options.js";

/**
 * The Prometheus metrics of one process: a prom-client {@link Registry} of its own, labelled with
 * the service and instance, holding the process and runtime metrics, the HTTP server and client
 * duration histograms named after OpenTelemetry's HTTP semantic conventions, and whatever else is
 * registered in {@link Metrics.registry} (the resilience exporter, a service's own metrics).
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ service: "orders", instanceId: "orders-1" });
 * http.createServer((req, res) => {
 *   if (metrics.handle(req, res)) return;
 *   // … the service's own routes
 * });
 * metrics.observeServer("GET", "/orders/:id", 200, 0.012);
 * ```
 */
export class Metrics {
  /** The prom-client registry; register further metrics with `registers: [metrics.registry]`. */
  readonly registry: Registry;
  /** The `Content-Type` of {@link Metrics.render}'s output (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /** The validated options. */
  readonly options: ResolvedMetricsOptions;
  /**
   * `http_server_request_duration_seconds` {http_request_method, http_route,
   * http_response_status_code}: requests this service served, by route template.
   */
  readonly httpServer: HttpDurationHistogram;
  /**
   * `http_client_request_duration_seconds` {http_request_method, server,
   * http_response_status_code}: requests this service made, by dependency.
   */
  readonly httpClient: HttpDurationHistogram;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: MetricsOptions) {
    const reader = new ConfigReader();
    const o = parseMetricsOptions(options, reader);
    reader.throwIfInvalid();
    this.options = o;
    this.registry = new Registry();
    this.contentType = this.registry.contentType;
    this.registry.setDefaultLabels({
      ...o.defaultLabels,
      service: o.service,
      service_instance_id: o.instanceId,
    });
    if (o.collectDefaults) collectDefaultMetrics({ register: this.registry, prefix: o.prefix });
    this.httpServer = new HttpDurationHistogram(this.registry, {
      name: "http_server_request_duration_seconds",
      help: "Duration of HTTP server requests.",
      targetLabel: "http_route",
      missingTarget: "unmatched",
      buckets: o.buckets,
      limit: o.cardinalityLimit,
    });
    this.httpClient = new HttpDurationHistogram(this.registry, {
      name: "http_client_request_duration_seconds",
      help: "Duration of HTTP client requests.",
      targetLabel: "server",
      missingTarget: "unknown",
      buckets: o.buckets,
      limit: o.cardinalityLimit,
    });
  }

  /**
   * Records one served request. `route` is the route TEMPLATE (`/orders/:id`), never the raw path;
   * `undefined` when no route matched, recorded as `unmatched`. `status` is `undefined` when no
   * response was sent. Methods outside the standard set are recorded as `_OTHER`.
   */
  observeServer(
    method: string,
    route: string | undefined,
    status: number | undefined,
    seconds: number,
  ): void {
    this.httpServer.observe(method, route, status, seconds);
  }

  /**
   * Records one request to a dependency. `server` names the dependency (its service name, not a
   * host and port that change with every instance); `status` is `undefined` when the request
   * failed before a response arrived.
   */
  observeClient(
    method: string,
    server: string | undefined,
    status: number | undefined,
    seconds: number,
  ): void {
    this.httpClient.observe(method, server, status, seconds);
  }

  /** Every metric in the Prometheus text exposition format. */
  async render(): Promise<string> {
    // prom-client writes a NaN value as `Nan` (the event loop lag's mean before its first sample);
    // the format spells it `NaN` (https://prometheus.io/docs/instrumenting/exposition_formats/).
    return (await this.registry.metrics()).replace(/ Nan$/gm, " NaN");
  }

  /**
   * Answers `GET` and `HEAD` of the metrics path (default `/metrics`, query string ignored) and
   * returns true; `405` for other methods on that path. Returns false, touching nothing, for any
   * other path, so it chains in front of a service's own routing.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    if ((query === -1 ? url : url.slice(0, query)) !== this.options.path) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res
        .writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" })
        .end("method not allowed\n");
      return true;
    }
    this.render().then(
      (body) => {
        res.writeHead(200, {
          "content-type": this.contentType,
          "content-length": Buffer.byteLength(body),
          "cache-control": "no-store",
        });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end(`metrics collection failed: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
    return true;
  }

  /** {@link Metrics.handle} as a standalone `node:http` request listener that answers 404 for other paths. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.handle(req, res))
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
  };
}

/** Builds a {@link Metrics} registry for this process; throws a `ConfigError` listing every bad option. */
export function createMetrics(options: MetricsOptions): Metrics {
  return new Metrics(options);
}
