import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createLogger,
  createMetrics,
  instrumentServer,
  type Logger,
  type Metrics,
} from "@flotilla/observability";
import { GcraLimiter } from "@flotilla/resilience";
import { type SelfPreservation, selfPreservation } from "../health/self-preservation.js";
import type { ApiContext } from "./api-context.js";
import { BlockingWaits } from "./blocking-query.js";
import { HttpProblem, ServerProblemCode } from "./http-problem.js";
import { sendJson, sendProblem } from "./http-responses.js";
import { InstanceHealth } from "./instance-health.js";
import { InstanceWriter } from "./instance-writer.js";
import { InstancesApi } from "./instances-api.js";
import { KvApi } from "./kv-api.js";
import { LeaseExpiry } from "./lease-expiry.js";
import { openApiDocument } from "./openapi-document.js";
import { RegistryCounters } from "./registry-counters.js";
import { registryMetrics } from "./registry-metrics.js";
import {
  parseRegistryServerOptions,
  type RegistryServerOptions,
  type ResolvedRegistryServerOptions,
} from "./registry-server-options.js";
import { RegistryView } from "./registry-view.js";
import { matchRoute } from "./route-table.js";
import { ServicesApi } from "./services-api.js";
import { SseHub } from "./sse-hub.js";
import { StoreHealth } from "./store-health.js";

const kRoute = Symbol("flotilla.registry.route");
type RoutedResponse = ServerResponse & { [kRoute]?: string };
const renewPrefix = "/v1/leases/";
const renewSuffix = "/renew";
const renewTemplate = "/v1/leases/{lease}/renew";
/** How long `close()` lets requests in progress finish before cutting their connections. */
const closeGraceMs = 5_000;
/** `/health` counts the store as unreachable when it takes longer than this to answer. */
const storeCheckTimeoutMs = 1_000;
/** `/health` reuses the store's last answer this long. */
const storeCheckCacheMs = 1_000;

/**
 * The registry server: the HTTP JSON API of README.md, "HTTP API" (registration, heartbeats, discovery with
 * blocking queries and SSE streams, KV), its OpenAPI document, `/health` and `/metrics`, over a
 * {@link Store}. Reads are answered from an in-memory view kept current by a store watch; lapsed
 * leases are expired under self-preservation; http and tcp checks run here.
 *
 * ```ts
 * const store = await embeddedStore({ dataDir: ".flotilla/registry" });
 * const server = registryServer({ store });
 * const { port } = await server.listen(8500);
 * // …
 * await server.close();
 * await store.close();
 * ```
 */
export class RegistryServer {
  /** The validated options. */
  readonly options: ResolvedRegistryServerOptions;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly #view: RegistryView;
  readonly #counters = new RegistryCounters();
  readonly #waits: BlockingWaits;
  readonly #streams: SseHub;
  readonly #expiry: LeaseExpiry;
  readonly #health: InstanceHealth;
  readonly #selfPreservation: SelfPreservation | undefined;
  readonly #instances: InstancesApi;
  readonly #services: ServicesApi;
  readonly #kv: KvApi;
  readonly #storeHealth: StoreHealth;
  readonly #http: Server;
  readonly #unregisterMetrics: () => void;
  #openApi: string | undefined;
  #started = false;
  #closing: Promise<void> | undefined;

  /** Validates `options`; throws a `ConfigError` naming each bad one by path. */
  constructor(options: RegistryServerOptions) {
    const o = parseRegistryServerOptions(options);
    this.options = o;
    this.logger = o.logger ?? createLogger({ service: "flotilla-registry", instanceId: o.instanceId });
    this.metrics = o.metrics ?? createMetrics({ service: "flotilla-registry", instanceId: o.instanceId });
    const { clock, wallClock, store } = o;
    this.#waits = new BlockingWaits({ clock, max: o.limits.maxBlockingQueries, random: o.random });
    this.#streams = new SseHub({
      clock,
      max: o.limits.maxStreams,
      pingIntervalMs: o.pingIntervalMs,
      maxBufferedBytes: o.limits.maxStreamBufferBytes,
    });
    const sp = o.selfPreservation;
    this.#selfPreservation =
      sp === false
        ? undefined
        : selfPreservation({
            clock,
            wallClock,
            threshold: sp.threshold,
            windowMs: sp.windowMs,
            minLeases: sp.minLeases,
            logger: this.logger,
            onChange: (active) => {
              if (!active) this.#expiry.selfPreservationEnded();
            },
          });
    this.#view = new RegistryView({
      store,
      clock,
      observer: {
        instanceChanged: (current, previous) => {
          if (previous !== undefined && previous.record.lease !== current?.record.lease) {
            this.#expiry.instanceGone(previous.record.id, previous.record.lease);
          }
          this.#health.instanceChanged(current, previous);
        },
        leaseDeleted: (lease, marker) => this.#expiry.leaseDeleted(lease, marker),
        relisted: () => this.#expiry.sweep(),
        warn: (message, error) => this.logger.warn({ err: error }, message),
      },
    });
    const writer = new InstanceWriter({ store, view: this.#view, catchUpMs: o.catchUpTimeoutMs });
    this.#expiry = new LeaseExpiry({
      clock,
      wallClock,
      view: this.#view,
      writer,
      selfPreservation: this.#selfPreservation,
      deregisterAfterMs: o.lapsedDeregisterAfterMs,
      logger: this.logger,
      onExpired: () => this.#counters.leaseExpirations++,
    });
    this.#health = new InstanceHealth({
      clock,
      wallClock,
      view: this.#view,
      writer,
      logger: this.logger,
      checker: o.healthChecks,
      onRun: (type, result) => this.#counters.checkRun(type, result),
      deregister: (service, id, lease) => this.#instances.deregisterInstance(service, id, lease),
    });
    const ctx: ApiContext = {
      options: o,
      store,
      view: this.#view,
      waits: this.#waits,
      streams: this.#streams,
      counters: this.#counters,
      logger: this.logger,
    };
    const limiter = new GcraLimiter({
      name: "registrations",
      rate: o.limits.registrationRate,
      burst: o.limits.registrationBurst,
      clock,
    });
    this.#instances = new InstancesApi(ctx, limiter);
    this.#services = new ServicesApi(ctx);
    this.#kv = new KvApi(ctx);
    this.#storeHealth = new StoreHealth({
      store,
      clock,
      timeoutMs: storeCheckTimeoutMs,
      cacheMs: storeCheckCacheMs,
    });
    this.#unregisterMetrics = registryMetrics(this.metrics.registry, {
      counters: this.#counters,
      instanceCounts: () => this.#instanceCounts(),
      selfPreservation: () => this.selfPreservationActive,
      watchers: () => ({ blocking: this.#waits.size, stream: this.#streams.size }),
    });
    this.#http = createServer({ keepAliveTimeout: 65_000 }, this.#onRequest);
    instrumentServer(this.#http, this.metrics, {
      route: (_req, res) => (res as RoutedResponse)[kRoute],
      // Heartbeats are counted by flotilla_registry_heartbeats_total; timing each one would cost
      // a fifth of their throughput.
      ignore: (req) => req.method === "PUT" && req.url?.startsWith(renewPrefix) === true,
    });
  }

  /**
   * For an embedded store's `expiryGuard`: lets the store ask this server's self-preservation
   * before it drops lapsed leases, so a registry that suspended expiry keeps the leases too.
   */
  get expiryGuard(): (lapsed: readonly string[], liveLeases: number) => boolean {
    return this.#expiry.expiryGuard;
  }

  /** True while self-preservation suspends lease expiry. */
  get selfPreservationActive(): boolean {
    return this.#selfPreservation?.active ?? false;
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    const address = this.#http.address();
    return address !== null && typeof address === "object" ? (address as AddressInfo).port : undefined;
  }

  /**
   * Loads the view from the store, then listens on `port` (default 0: any free port) and `host`
   * (default `127.0.0.1`). Resolves the bound port.
   */
  async listen(port = 0, host = "127.0.0.1"): Promise<{ readonly port: number }> {
    if (this.#closing !== undefined) throw new Error("the registry server is closed");
    if (!this.#started) {
      this.#started = true;
      await this.#view.start();
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#http.once("error", onError);
      this.#http.listen(port, host, () => {
        this.#http.off("error", onError);
        resolve();
      });
    });
    return { port: this.port! };
  }

  /**
   * Stops taking connections, ends every SSE stream, answers every parked blocking query, stops
   * the health checks and the view, and resolves once the HTTP server is closed (requests still in
   * progress after a few seconds are cut). Does not close the store, which the caller owns.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const closed = this.#http.listening
      ? new Promise<void>((resolve) => this.#http.close(() => resolve()))
      : Promise.resolve();
    this.#streams.close();
    this.#waits.close();
    // Connections go idle as their last answers finish; close each as it does, and cut the rest
    // after the grace period.
    this.#http.closeIdleConnections();
    const sweep = setInterval(() => this.#http.closeIdleConnections(), 20);
    const cut = setTimeout(() => this.#http.closeAllConnections(), closeGraceMs);
    sweep.unref();
    cut.unref();
    this.#expiry.close();
    this.#selfPreservation?.close();
    await this.#health.close();
    await closed;
    clearInterval(sweep);
    clearTimeout(cut);
    this.#view.close();
    this.#unregisterMetrics();
  }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "/";
    if (req.method === "PUT" && url.startsWith(renewPrefix) && url.endsWith(renewSuffix)) {
      const end = url.length - renewSuffix.length;
      if (end > renewPrefix.length && url.indexOf("/", renewPrefix.length) === end) {
        (res as RoutedResponse)[kRoute] = renewTemplate;
        const raw = url.slice(renewPrefix.length, end);
        let lease = raw;
        if (raw.includes("%")) {
          try {
            lease = decodeURIComponent(raw);
          } catch {
            sendProblem(res, HttpProblem.invalid([{ path: "lease", message: "malformed percent-encoding" }]));
            return;
          }
        }
        this.#instances.renew(res, lease);
        return;
      }
    }
    if (this.#closing !== undefined) res.setHeader("connection", "close");
    this.#route(req, res, url).catch((error: unknown) => this.#fail(res, error));
  };

  async #route(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
    let match: ReturnType<typeof matchRoute>;
    try {
      match = matchRoute(path);
    } catch {
      throw HttpProblem.invalid([{ path: "", message: "malformed percent-encoding in the path" }]);
    }
    if (match === undefined) throw HttpProblem.notFound(`no route for ${path}`);
    (res as RoutedResponse)[kRoute] = match.template;
    const method = req.method ?? "GET";
    if (!match.methods.includes(method)) {
      throw new HttpProblem({
        status: 405,
        code: ServerProblemCode.MethodNotAllowed,
        title: "Method not allowed",
        detail: `${method} is not allowed on ${match.template}`,
        headers: { allow: match.methods.join(", ") },
      });
    }
    const [a = "", b = ""] = match.params;
    switch (match.name) {
      case "register":
        return this.#instances.register(req, res);
      case "deregister":
        return this.#instances.deregister(res, a, b);
      case "renew":
        return this.#instances.renew(res, a);
      case "services":
        return this.#services.list(res, query);
      case "service":
        return this.#services.instances(res, a, query);
      case "serviceStream":
        return this.#services.stream(req, res, a, query);
      case "kvList":
        return this.#kv.list(res, query);
      case "kvKey":
        if (method === "PUT") return this.#kv.put(req, res, a, query);
        if (method === "DELETE") return this.#kv.delete(res, a, query);
        return this.#kv.get(res, a, query);
      case "kvStream":
        return this.#kv.stream(req, res, query);
      case "openapi":
        this.#openApi ??= JSON.stringify(openApiDocument);
        return sendJson(res, 200, this.#openApi);
      case "health":
        return this.#sendHealth(res);
      case "metrics":
        this.metrics.handle(req, res);
        return;
    }
  }

  async #sendHealth(res: ServerResponse): Promise<void> {
    const store = this.options.store.kind;
    const fail = (reason: string): void =>
      sendJson(res, 503, { status: "fail", selfPreservation: this.selfPreservationActive, store, reason });
    if (!this.#started || this.#closing !== undefined) return fail("the registry server is not serving");
    const checked = await this.#storeHealth.check();
    if (!checked.ok) return fail(checked.reason);
    const sp = this.selfPreservationActive;
    sendJson(res, 200, { status: sp ? "warn" : "pass", selfPreservation: sp, store });
  }

  #fail(res: ServerResponse, error: unknown): void {
    const problem = HttpProblem.from(error);
    if (problem.status >= 500) {
      const level = problem.status === 500 ? "error" : "warn";
      this.logger[level](
        { err: error, url: res.req?.url, method: res.req?.method },
        "registry request failed",
      );
    }
    sendProblem(res, problem);
  }

  *#instanceCounts(): IterableIterator<readonly [string, string, number]> {
    for (const service of this.#view.services()) {
      const counts = { passing: 0, warning: 0, critical: 0 };
      for (const { record } of service.instances.values()) counts[record.status]++;
      for (const status of ["passing", "warning", "critical"] as const) {
        yield [service.name, status, counts[status]];
      }
    }
  }
}

/** Creates a {@link RegistryServer}; call `listen()` to start it. */
export function registryServer(options: RegistryServerOptions): RegistryServer {
  return new RegistryServer(options);
}
