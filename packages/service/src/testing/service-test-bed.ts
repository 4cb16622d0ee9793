import { randomBytes } from "node:crypto";
import {
  activeTelemetry,
  createLogger,
  createMetrics,
  type InstrumentationOptions,
  initTelemetry,
  type Logger,
  type LogLevel,
  type ReadableSpan,
  type Telemetry,
} from "@flotilla/observability";
import {
  type Discovery,
  type DiscoveryCache,
  discovery,
  discoveryCache,
  type EmbeddedStore,
  embeddedStore,
  type RegistryClient,
  type RegistryServer,
  registryClient,
  registryServer,
} from "@flotilla/registry";
import pg from "pg";
import { type DependencyConfig, serviceClients } from "../client/service-clients.js";
import type { ClientOf } from "../contract/client-types.js";
import type { AnyContract } from "../contract/define-contract.js";
import { defaultAdminUrl, provisionDatabase } from "../database/provision-database.js";
import { serviceDatabaseName } from "../database/service-database-name.js";
import type { ServiceConfigInput } from "../lifecycle/service-config.js";
import { type RunningService, startService } from "../lifecycle/start-service.js";
import type { AnyService } from "../server/define-service.js";
import { TestBedError, TestBedErrorCode } from "./test-bed-error.js";

type RegistryConfigInput = NonNullable<ServiceConfigInput["registry"]>;

/**
 * A service's configuration in a test bed: a {@link ServiceConfigInput} without what the bed
 * sets itself — `instanceId`, `telemetry` (the bed's `telemetry` option decides) and
 * `registry.url` (the bed's registry). The bed's defaults differ from a service's in two places:
 * `shutdown.linger` is `0` (no caller's cache to wait for in most tests) and `log.level` is the
 * bed's `logLevel`. `database.url`, when given, is used as is and nothing is provisioned.
 */
export type TestBedServiceConfig = Omit<ServiceConfigInput, "instanceId" | "telemetry" | "registry"> & {
  readonly registry?: Omit<RegistryConfigInput, "url">;
};

/** One service of a test bed, and how many instances of it to run. */
export interface TestBedService {
  /** What `defineService` returned. */
  readonly service: AnyService;
  readonly config?: TestBedServiceConfig;
  /** Instances to start, each on a port of its own. Default 1. */
  readonly instances?: number;
}

/** Options of {@link startTestBed}. */
export interface TestBedOptions {
  /** The services to start, in this order (start a callee before its callers when callers check it at start). */
  readonly services: readonly TestBedService[];
  /**
   * Trace into memory, for {@link TestBed.spans}: starts `initTelemetry` with the `memory` exporter
   * (shut down again by `close()`), or reuses the telemetry already active in the process.
   * `instrumentations` defaults to what `startService` uses (inbound `node:http` off, since the
   * server traces its own requests). Default `false`: spans are not collected.
   */
  readonly telemetry?: boolean | { readonly instrumentations?: InstrumentationOptions };
  /** Where the services' databases are provisioned (a role with CREATEROLE and CREATEDB). Default the local `postgres` superuser. */
  readonly adminUrl?: string;
  /** Log level of the services and the registry. Default `"warn"`. */
  readonly logLevel?: LogLevel;
  /** How long each instance may take to be listed as available by the registry, in ms. Default 10,000. */
  readonly readyTimeout?: number;
}

/** Options of {@link TestBed.client}: the `serviceClients` dependency settings besides the contract. */
export type TestBedClientOptions = Omit<DependencyConfig, "contract">;

/** A running set of services with their registry and databases; see {@link startTestBed}. */
export interface TestBed {
  /** The embedded registry's base URL (`http://127.0.0.1:<port>`). */
  readonly registryUrl: string;
  /** A client of the embedded registry, to look at registrations. Closed by `close()`. */
  readonly registry: RegistryClient;
  /** The base URL of a running instance (`http://127.0.0.1:<port>`). */
  url(service: string, instance?: number): string;
  /** A running instance's handle (`instanceId`, `server`, `registration`, `config`). */
  instance(service: string, instance?: number): RunningService;
  /** The provisioned database's URL (the service's own role), to seed or inspect data. */
  databaseUrl(service: string): string;
  /**
   * A typed client of `contract` that finds instances through the registry as services do
   * (discovery, balancer, outlier detection), with default policies unless `options` give some:
   * a 10 s timeout and no retry, so failures show as they are. Closed by `close()`.
   */
  client<C extends AnyContract>(contract: C, options?: TestBedClientOptions): ClientOf<C>;
  /**
   * The spans that have ended so far, oldest first. All services share the process's telemetry,
   * so every span carries the same resource: tell them apart by name (the route template), kind
   * and trace id. Throws `FLT_TEST_BED_NO_TELEMETRY` without the `telemetry` option, and
   * `FLT_OBS_NOT_MEMORY_EXPORTER` when the reused telemetry exports elsewhere than to memory.
   */
  spans(): readonly ReadableSpan[];
  /**
   * Resolves with the spans once `predicate` holds for them, checking every 10 ms: a server
   * span ends after its response is sent, so right after a call it may not be there yet.
   * Rejects with `FLT_TEST_BED_TIMEOUT` after `timeoutMs` (default 5,000).
   */
  waitForSpans(
    predicate: (spans: readonly ReadableSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<readonly ReadableSpan[]>;
  /** Forgets the spans ended so far. */
  resetSpans(): void;
  /**
   * Stops one instance gracefully (deregister, linger, drain), as a shutdown would; resolves
   * once it is stopped and the registry no longer lists it. Its database stays.
   */
  stop(service: string, instance?: number): Promise<{ readonly drained: boolean }>;
  /**
   * Starts a stopped instance again (stopping it first if it runs) with the same instance id,
   * port and database, and waits until it is available. Resolves with the new handle.
   */
  restart(service: string, instance?: number): Promise<RunningService>;
  /**
   * Stops every instance gracefully, closes the clients, drops the databases and roles it
   * provisioned, closes the registry and shuts down the telemetry it started. Idempotent.
   * Everything is attempted; rejects with `FLT_TEST_BED_CLOSE_FAILED` (each failure in
   * `errors`) when something could not be undone.
   */
  close(): Promise<void>;
}

/** One instance's place in the bed: its id and port survive a restart. */
interface Slot {
  readonly instanceId: string;
  port: number | undefined;
  running: RunningService | undefined;
  /** The last stop, while it is in progress or done. */
  stopped: Promise<{ readonly drained: boolean }> | undefined;
}

interface Entry {
  readonly service: AnyService;
  readonly config: TestBedServiceConfig;
  readonly slots: Slot[];
  /** The provisioned database, when the bed created one. */
  database: { readonly url: string; readonly name: string; readonly adminUrl: string } | undefined;
}

const maxIdentifier = 63;

/** `flotilla_<service>_<bed id>`, cut to PostgreSQL's 63 characters; also the role's name. */
function bedDatabaseName(service: string, bedId: string): string {
  const suffix = `_${bedId}`;
  return `${serviceDatabaseName(service).slice(0, maxIdentifier - suffix.length)}${suffix}`;
}

function invalid(message: string): TestBedError {
  return new TestBedError(TestBedErrorCode.InvalidOptions, message);
}

/**
 * Starts services for one test, in this process: an embedded in-memory registry on
 * `127.0.0.1`, optionally telemetry exporting to memory, then each instance through
 * `startService` on a free port, registered with that registry, with its service's database
 * provisioned on the local PostgreSQL under a name of this bed's own
 * (`flotilla_<service>_<random>`, so test files running in parallel never share one). Resolves
 * once every instance is listed as available by the registry. A failed start closes whatever
 * had started, drops what it provisioned and rejects with the error.
 *
 * ```ts
 * const bed = await startTestBed({ services: [{ service: inventoryService }, { service: ordersService }], telemetry: true });
 * try {
 *   const orders = bed.client(ordersContract);
 *   await orders.place({ body: { sku: "ABC-1", quantity: 2 } });
 *   await bed.stop("inventory");
 * } finally {
 *   await bed.close();
 * }
 * ```
 */
export async function startTestBed(options: TestBedOptions): Promise<TestBed> {
  const services = options?.services;
  if (!Array.isArray(services) || services.length === 0) {
    throw invalid("services: expected at least one { service }");
  }
  const readyTimeout = options.readyTimeout ?? 10_000;
  if (!Number.isFinite(readyTimeout) || readyTimeout <= 0) {
    throw invalid(`readyTimeout: expected a positive number of milliseconds, got ${String(readyTimeout)}`);
  }
  const entries = new Map<string, Entry>();
  const bedId = randomBytes(4).toString("hex");
  services.forEach((spec, i) => {
    const name = spec?.service?.name;
    if (typeof name !== "string")
      throw invalid(`services.${i}.service: expected a service from defineService()`);
    if (entries.has(name)) throw invalid(`services.${i}.service: "${name}" is given twice; use instances`);
    const count = spec.instances ?? 1;
    if (!Number.isInteger(count) || count < 1) {
      throw invalid(`services.${i}.instances: expected a whole number of at least 1, got ${String(count)}`);
    }
    entries.set(name, {
      service: spec.service,
      config: spec.config ?? {},
      slots: Array.from({ length: count }, (_, n) => ({
        instanceId: `${name}-${n}-${bedId}`,
        port: undefined,
        running: undefined,
        stopped: undefined,
      })),
      database: undefined,
    });
  });

  const logLevel = options.logLevel ?? "warn";
  const logger: Logger = createLogger({ service: "test-bed", instanceId: bedId, level: logLevel });
  let telemetry: Telemetry | undefined;
  let ownTelemetry: Telemetry | undefined;
  let store: EmbeddedStore | undefined;
  let server: RegistryServer | undefined;
  let registry: RegistryClient | undefined;
  let cache: DiscoveryCache | undefined;
  let finder: Discovery | undefined;
  let registryUrl = "";
  const handles: { close(): Promise<void> }[] = [];
  let closing: Promise<void> | undefined;

  const assertOpen = () => {
    if (closing !== undefined) throw new TestBedError(TestBedErrorCode.Closed, "the test bed is closed");
  };
  const entryOf = (service: string): Entry => {
    const entry = entries.get(service);
    if (entry === undefined) {
      throw new TestBedError(
        TestBedErrorCode.UnknownInstance,
        `no service "${service}" in the test bed (it has ${[...entries.keys()].join(", ")})`,
      );
    }
    return entry;
  };
  const slotOf = (service: string, instance: number): Slot => {
    const entry = entryOf(service);
    const slot = entry.slots[instance];
    if (slot === undefined) {
      throw new TestBedError(
        TestBedErrorCode.UnknownInstance,
        `no instance ${instance} of "${service}" (it has ${entry.slots.length})`,
      );
    }
    return slot;
  };
  const runningOf = (service: string, instance: number): RunningService => {
    const running = slotOf(service, instance).running;
    if (running === undefined) {
      throw new TestBedError(
        TestBedErrorCode.UnknownInstance,
        `instance ${instance} of "${service}" is stopped`,
      );
    }
    return running;
  };

  /** Waits, with blocking queries, until the registry lists `id` among the available instances of `service`. */
  const waitUntilListed = async (service: string, id: string, listed: boolean): Promise<void> => {
    const client = registry as RegistryClient;
    const deadline = Date.now() + readyTimeout;
    let index = 0;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TestBedError(
          TestBedErrorCode.Timeout,
          `instance ${id} of "${service}" was ${listed ? "not listed as available" : "still listed"} by the registry after ${readyTimeout} ms`,
        );
      }
      const result = await client.instances(service, { index, waitMs: left });
      if (result.instances.some((i) => i.id === id) === listed) return;
      index = result.index;
    }
  };

  const configFor = (entry: Entry, slot: Slot): ServiceConfigInput => {
    const c = entry.config;
    return {
      ...c,
      instanceId: slot.instanceId,
      port: slot.port ?? c.port ?? 0,
      registry: { ...c.registry, url: registryUrl },
      shutdown: { linger: 0, ...c.shutdown },
      log: { level: logLevel, ...c.log },
      // The bed owns tracing: a service would start an OTLP exporter of its own.
      telemetry: { enabled: false },
      ...(entry.database === undefined ? {} : { database: { ...c.database, url: entry.database.url } }),
    };
  };

  const startInstance = async (entry: Entry, slot: Slot): Promise<RunningService> => {
    const running = await startService(entry.service, {
      config: configFor(entry, slot),
      metrics: createMetrics({
        service: entry.service.name,
        instanceId: slot.instanceId,
        collectDefaults: false,
      }),
    });
    // Recorded before waiting, so that close() stops it when the wait fails.
    slot.running = running;
    slot.stopped = undefined;
    slot.port = running.port;
    await waitUntilListed(entry.service.name, running.instanceId, true);
    return running;
  };

  const stopSlot = (slot: Slot): Promise<{ readonly drained: boolean }> => {
    const running = slot.running;
    if (running === undefined) return slot.stopped ?? Promise.resolve({ drained: true });
    slot.running = undefined;
    slot.stopped = running.stop();
    return slot.stopped;
  };

  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    const attempt = async (what: string, run: () => unknown): Promise<void> => {
      try {
        await run();
      } catch (error) {
        logger.warn({ err: error, what }, "test bed: closing failed");
        errors.push(error);
      }
    };
    for (const handle of handles.splice(0)) await attempt("clients", () => handle.close());
    // Callers first, so that no instance sees its callee vanish under a request.
    for (const entry of [...entries.values()].reverse()) {
      for (const slot of [...entry.slots].reverse()) await attempt(entry.service.name, () => stopSlot(slot));
    }
    await attempt("discovery", async () => {
      finder?.close();
      await cache?.close();
    });
    await attempt("registry client", () => registry?.close());
    await attempt("registry server", () => server?.close());
    await attempt("registry store", () => store?.close());
    const databases = [...entries.values()].flatMap((e) => (e.database === undefined ? [] : [e.database]));
    for (const adminUrl of new Set(databases.map((d) => d.adminUrl))) {
      await attempt("databases", () =>
        dropDatabases(
          adminUrl,
          databases.filter((d) => d.adminUrl === adminUrl).map((d) => d.name),
        ),
      );
    }
    await attempt("telemetry", () => ownTelemetry?.shutdown());
    logger.flush();
    if (errors.length > 0) {
      throw new TestBedError(
        TestBedErrorCode.CloseFailed,
        `the test bed could not close everything: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")}`,
        { errors },
      );
    }
  };

  const telemetryOrThrow = (): Telemetry => {
    if (telemetry === undefined) {
      throw new TestBedError(
        TestBedErrorCode.NoTelemetry,
        "spans are collected only by a test bed started with { telemetry: true }",
      );
    }
    return telemetry;
  };

  const bed: TestBed = {
    get registryUrl() {
      return registryUrl;
    },
    get registry() {
      return registry as RegistryClient;
    },
    url: (service, instance = 0) => runningOf(service, instance).url,
    instance: (service, instance = 0) => runningOf(service, instance),
    databaseUrl(service) {
      const database = entryOf(service).database;
      if (database === undefined) {
        throw new TestBedError(
          TestBedErrorCode.UnknownInstance,
          `"${service}" has no database provisioned by the test bed (it declares none, or its config gives database.url)`,
        );
      }
      return database.url;
    },
    client<C extends AnyContract>(contract: C, clientOptions: TestBedClientOptions = {}): ClientOf<C> {
      assertOpen();
      const handle = serviceClients({
        discovery: finder as Discovery,
        caller: { service: "test-bed", instanceId: bedId },
        dependencies: { target: { ...clientOptions, contract } },
      });
      handles.push(handle);
      return handle.clients.target;
    },
    spans: () => telemetryOrThrow().finishedSpans(),
    async waitForSpans(predicate, timeoutMs = 5_000) {
      const source = telemetryOrThrow();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const spans = source.finishedSpans();
        if (predicate(spans)) return spans;
        if (Date.now() >= deadline) {
          throw new TestBedError(
            TestBedErrorCode.Timeout,
            `the spans did not match within ${timeoutMs} ms (${spans.length} spans: ${spans.map((s) => s.name).join(", ")})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    resetSpans: () => telemetryOrThrow().clearFinishedSpans(),
    async stop(service, instance = 0) {
      assertOpen();
      const slot = slotOf(service, instance);
      const running = runningOf(service, instance);
      const outcome = await stopSlot(slot);
      // stop() deregisters; wait until the registry's answers no longer list it either.
      await waitUntilListed(service, running.instanceId, false);
      return outcome;
    },
    async restart(service, instance = 0) {
      assertOpen();
      const entry = entryOf(service);
      const slot = slotOf(service, instance);
      await stopSlot(slot);
      return startInstance(entry, slot);
    },
    close() {
      closing ??= close();
      return closing;
    },
  };

  try {
    if (options.telemetry !== undefined && options.telemetry !== false) {
      telemetry = activeTelemetry();
      if (telemetry === undefined) {
        const instrumentations = options.telemetry === true ? undefined : options.telemetry.instrumentations;
        ownTelemetry = initTelemetry({
          serviceName: "test-bed",
          instanceId: bedId,
          exporter: "memory",
          instrumentations: instrumentations ?? { http: { incoming: false } },
        });
        telemetry = ownTelemetry;
      }
    }
    store = await embeddedStore();
    server = registryServer({
      store,
      logger,
      metrics: createMetrics({ service: "flotilla-registry", instanceId: bedId, collectDefaults: false }),
      instanceId: `registry-${bedId}`,
      selfPreservation: false,
      // A new instance's readiness check runs at once rather than within the first second.
      healthChecks: { firstRunSpreadMs: 0 },
    });
    const { port } = await server.listen(0, "127.0.0.1");
    registryUrl = `http://127.0.0.1:${port}`;
    registry = registryClient({ url: registryUrl });
    cache = discoveryCache({ client: registry, logger });
    finder = discovery({ cache });

    for (const entry of entries.values()) {
      if (entry.service.database !== undefined && entry.config.database?.url === undefined) {
        const name = bedDatabaseName(entry.service.name, bedId);
        const adminUrl = entry.config.database?.adminUrl ?? options.adminUrl ?? defaultAdminUrl;
        const provisioned = await provisionDatabase({
          service: entry.service.name,
          adminUrl,
          database: name,
          role: name,
          logger,
        }).catch((error: unknown) => {
          // A half-done provisioning (the role without the database) is dropped by close() all the same.
          entry.database = { url: "", name, adminUrl };
          throw error;
        });
        entry.database = { url: provisioned.url, name, adminUrl };
      }
      for (const slot of entry.slots) await startInstance(entry, slot);
    }
  } catch (error) {
    await bed.close().catch(() => {
      // close() has logged each failure; the start's error is the one to report.
    });
    throw error;
  }
  return bed;
}

/** Drops the bed's databases (ending their sessions) and their roles. */
async function dropDatabases(adminUrl: string, names: readonly string[]): Promise<void> {
  const client = new pg.Client({
    connectionString: adminUrl,
    fallback_application_name: "flotilla-test-bed",
  });
  client.on("error", () => {});
  await client.connect();
  try {
    for (const name of names) {
      const id = pg.escapeIdentifier(name);
      await client.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${id}`);
    }
  } finally {
    await client.end().catch(() => {});
  }
}
