import { randomBytes } from "node:crypto";
import {
  activeTelemetry,
  createLogger,
  createMetrics,
  type HealthCheck,
  initTelemetry,
  type Logger,
  type Metrics,
  type Telemetry,
} from "@flotilla/observability";
import {
  type Discovery,
  type DiscoveryCache,
  discovery,
  discoveryCache,
  type RegistryClient,
  registryClient,
  type SelfRegistration,
  selfRegistration,
} from "@flotilla/registry";
import { type Clock, systemClock } from "@flotilla/resilience";
import type { AnyService } from "../server/define-service.js";
import type { IdempotencyStore } from "../server/idempotency/idempotency-store.js";
import { memoryIdempotencyStore } from "../server/idempotency/memory-idempotency-store.js";
import { postgresIdempotencyStore } from "../server/idempotency/postgres-idempotency-store.js";
import { type ServiceServer, serviceServer } from "../server/service-server.js";
import { type ClientsFactory, defaultClientsFactory, type ServiceClientsHandle } from "./clients-factory.js";
import {
  type DatabaseConnector,
  defaultDatabaseConnector,
  type ServiceDatabaseHandle,
} from "./database-connector.js";
import { parseServiceConfig, type ServiceConfig, type ServiceConfigInput } from "./service-config.js";
import { ServiceStartError, type StartPhase } from "./service-start-error.js";

/** Options of {@link startService}: the configuration, and adapters that tests or the CLI replace. */
export interface StartServiceOptions {
  /** The configuration as written; validated here (a `ConfigError` names each bad path). Default `{}`. */
  readonly config?: ServiceConfigInput;
  /** Default `createLogger({ service, instanceId })`. */
  readonly logger?: Logger;
  /** Default `createMetrics({ service, instanceId })`. */
  readonly metrics?: Metrics;
  /** Timers of the health checks, registration, linger and drain. Default the system clock. */
  readonly clock?: Clock;
  /** Connects and migrates the database. Default {@link defaultDatabaseConnector}. */
  readonly connectDatabase?: DatabaseConnector;
  /** Creates the dependencies' clients. Default {@link defaultClientsFactory}. */
  readonly createClients?: ClientsFactory;
  /** Where idempotency keys go. Default by `config.idempotency.store`. */
  readonly idempotencyStore?: IdempotencyStore;
}

/** A started service instance. */
export interface RunningService {
  /** `http://<host>:<port>` it listens on. */
  readonly url: string;
  readonly port: number;
  readonly instanceId: string;
  /** The validated configuration. */
  readonly config: ServiceConfig;
  readonly server: ServiceServer;
  /** The registration, when a registry is configured. */
  readonly registration: SelfRegistration | undefined;
  /**
   * Shuts down gracefully: readiness 503 → deregister → linger (`shutdown.linger`, still serving
   * while callers' caches drop this instance) → stop accepting (new requests 503) → drain requests
   * in flight within `shutdown.drainTimeout`, then cut the rest → close the idempotency store,
   * clients, registry client, database pool and telemetry. Resolves `{ drained }` (whether every
   * request finished in time). Idempotent; never rejects.
   */
  stop(): Promise<{ readonly drained: boolean }>;
}

const wildcardHosts = new Set(["0.0.0.0", "::", "[::]"]);

function sleep(clock: Clock, ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/**
 * Starts one instance of `service`: validate the config → tracing (once per process) → connect
 * the database and apply its migrations → clients of the dependencies (discovery through the
 * registry) → listen → readiness `ready` → register with the registry (version from the
 * contract, an HTTP readiness check on `/health/ready`) → resolve. A failing step closes what was
 * started and throws a {@link ServiceStartError} naming the step; a registry that does not answer
 * within `registry.registerTimeout` only logs (the registration keeps retrying).
 *
 * `runService` wraps it with the config file, the environment and the signals; tests call it
 * directly and `stop()` the handle.
 *
 * ```ts
 * const running = await startService(inventoryService, { config: { port: 0, registry: { url } } });
 * // … running.url …
 * await running.stop();
 * ```
 */
export async function startService(
  service: AnyService,
  options: StartServiceOptions = {},
): Promise<RunningService> {
  const config = parseServiceConfig(options.config ?? {});
  const clock = options.clock ?? systemClock;
  const name = service.name;
  const instanceId = config.instanceId ?? `${name}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const logger =
    options.logger ??
    createLogger({
      service: name,
      instanceId,
      ...(config.log.level === undefined ? {} : { level: config.log.level }),
    });
  /** What to close on the way down, in start order. */
  const closers: { readonly what: string; readonly close: () => Promise<void> }[] = [];
  const closeAll = async () => {
    for (const { what, close } of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        logger.warn({ err: error, what }, "closing failed");
      }
    }
  };
  const step = async <T>(phase: StartPhase, run: () => T | Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      await closeAll();
      const failure = new ServiceStartError(name, phase, error);
      logger.error({ err: error, phase }, failure.message);
      throw failure;
    }
  };

  await step("telemetry", () => {
    if (!config.telemetry.enabled || activeTelemetry() !== undefined) return;
    const t = config.telemetry;
    const telemetry: Telemetry = initTelemetry({
      serviceName: name,
      serviceVersion: service.version,
      instanceId,
      ...(t.sampleRatio === undefined ? {} : { sampleRatio: t.sampleRatio }),
      ...(t.exporter === undefined ? {} : { exporter: t.exporter }),
      ...(t.endpoint === undefined ? {} : { endpoint: t.endpoint }),
      // The server traces its own requests (traceHttpServer), at less cost than the instrumentation.
      instrumentations: { http: { incoming: false } },
    });
    closers.push({ what: "telemetry", close: () => telemetry.shutdown() });
  });
  const metrics = options.metrics ?? createMetrics({ service: name, instanceId });

  let database: ServiceDatabaseHandle | undefined;
  if (service.database !== undefined) {
    database = await step("database", () =>
      (options.connectDatabase ?? defaultDatabaseConnector)({
        service,
        config: config.database,
        migrations: service.database?.migrations,
        logger,
      }),
    );
    const db = database;
    closers.push({ what: "database", close: () => db.close() });
  }

  let registry: RegistryClient | undefined;
  let cache: DiscoveryCache | undefined;
  let finder: Discovery | undefined;
  const clients: ServiceClientsHandle = await step("clients", () => {
    if (config.registry !== undefined) {
      const client = registryClient({ url: config.registry.url, clock });
      registry = client;
      closers.push({ what: "registry client", close: () => client.close() });
      const c = discoveryCache({ client, clock, logger });
      const d = discovery({ cache: c });
      cache = c;
      finder = d;
      closers.push({
        what: "discovery",
        close: async () => {
          d.close();
          await c.close();
        },
      });
    }
    const handle = (options.createClients ?? defaultClientsFactory)({
      service,
      instanceId,
      config: config.dependencies,
      discovery: finder,
      cache,
      logger,
      wire: config.wire,
      metrics,
    });
    closers.push({ what: "clients", close: () => handle.close() });
    return handle;
  });

  const store = await step("idempotency", async () => {
    if (options.idempotencyStore !== undefined) return options.idempotencyStore;
    const mode = config.idempotency.store;
    if (mode === "postgres" && database === undefined) {
      throw new Error('idempotency.store is "postgres" but the service declares no database');
    }
    const created =
      database !== undefined && mode !== "memory"
        ? await postgresIdempotencyStore({ db: database.db, clock })
        : memoryIdempotencyStore({ maxEntries: config.idempotency.maxEntries, clock });
    closers.push({ what: "idempotency store", close: () => created.close() });
    return created;
  });

  const readyChecks: Record<string, HealthCheck> = { ...clients.checks };
  if (database !== undefined) readyChecks.db = database.check;
  const server = serviceServer(service, {
    instanceId,
    logger,
    metrics,
    readyChecks,
    ...(database === undefined ? {} : { db: database.db }),
    clients: clients.clients,
    wire: config.wire,
    limits: {
      bodyLimit: config.limits.bodyLimit,
      maxTimeout: config.limits.maxTimeout,
      ...(config.limits.defaultTimeout === undefined ? {} : { defaultTimeout: config.limits.defaultTimeout }),
      ...(config.limits.validateResponses === undefined
        ? {}
        : { validateResponses: config.limits.validateResponses }),
    },
    idempotency: { store, window: config.idempotency.window, lockTimeout: config.idempotency.lockTimeout },
    clock,
  });
  const address = await step("listen", () => server.listen(config.port, config.host));
  closers.push({ what: "server", close: () => server.close({ drainTimeoutMs: 0 }).then(() => {}) });
  server.health.markReady();

  let registration: SelfRegistration | undefined;
  if (registry !== undefined && config.registry !== undefined) {
    const r = config.registry;
    const advertised =
      config.advertiseAddress ?? (wildcardHosts.has(config.host) ? "127.0.0.1" : address.host);
    const urlHost = advertised.includes(":") ? `[${advertised}]` : advertised;
    const client = registry;
    const self = await step("register", () =>
      selfRegistration({
        client,
        clock,
        logger,
        handleSignals: false,
        registration: {
          service: name,
          id: instanceId,
          address: advertised,
          port: address.port,
          version: service.version,
          ...(config.tags.length === 0 ? {} : { tags: config.tags }),
          ...(config.zone === undefined ? {} : { zone: config.zone }),
          metadata: server.registrationMetadata,
          ttlMs: r.ttl,
          checks: [
            {
              type: "http",
              kind: "readiness",
              url: `http://${urlHost}:${address.port}/health/ready`,
              intervalMs: r.checkInterval,
              timeoutMs: Math.min(2_000, r.checkInterval),
            },
          ],
        },
      }),
    );
    registration = self;
    closers.push({ what: "registration", close: () => self.stop() });
    self.start();
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const outcome = await step("register", () =>
      Promise.race([
        self.registered().then(() => "registered" as const),
        new Promise<"timeout">((resolve) => {
          timer = clock.setTimeout(() => resolve("timeout"), r.registerTimeout, true);
        }),
      ]),
    );
    if (timer !== undefined) clock.clearTimeout(timer);
    if (outcome === "timeout") {
      logger.warn(
        { registry: r.url, waitedMs: r.registerTimeout },
        "not registered yet; serving anyway while registration keeps retrying",
      );
    }
  }

  logger.info(
    {
      url: address.url,
      instanceId,
      version: service.version,
      registered: registration?.state === "registered",
    },
    "service started",
  );

  let stopping: Promise<{ drained: boolean }> | undefined;
  const stop = (): Promise<{ drained: boolean }> => {
    stopping ??= (async () => {
      logger.info({ instanceId }, "stopping: readiness 503, deregistering");
      server.health.drain();
      if (registration !== undefined) {
        await registration.stop();
        await sleep(clock, config.shutdown.linger);
      }
      const { drained } = await server.close({ drainTimeoutMs: config.shutdown.drainTimeout });
      await closeAll();
      logger.info({ instanceId, drained }, "service stopped");
      logger.flush();
      return { drained };
    })();
    return stopping;
  };

  return {
    url: address.url,
    port: address.port,
    instanceId,
    config,
    server,
    get registration() {
      return registration;
    },
    stop,
  };
}
