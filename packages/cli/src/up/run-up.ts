import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CliError, CliErrorCode } from "../config/cli-error.js";
import type { LoadedSystemConfig } from "../config/load-system-config.js";
import {
  type InstanceState,
  readState,
  removeState,
  type SystemState,
  writeState,
} from "../state/system-state.js";
import { formatLogLine } from "../terminal/format-log-line.js";
import type { TerminalOutput } from "../terminal/terminal-output.js";
import {
  type Component,
  componentLogger,
  startRegistry,
  startSystemGateway,
  startTraceCollector,
} from "./components.js";
import { startEmbeddedDatabase } from "./embedded-database.js";
import { ensureDatabase, redact } from "./ensure-database.js";
import { InstanceProcess } from "./instance-process.js";
import { type InstanceHealth, registryHealth } from "./registry-health.js";

/** Options of {@link runUp}. */
export interface UpOptions {
  readonly config: LoadedSystemConfig;
  readonly out: TerminalOutput;
  /** The environment passed on to the services (plus the `FLOTILLA_*` variables). Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `FLOTILLA_LOG_LEVEL` of the services and components. Default `info`. */
  readonly logLevel?: string;
  /** How long to wait for every instance to pass its registry health check. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** How long an instance may take to stop after SIGTERM before it is killed. Default 15 s. */
  readonly stopGraceMs?: number;
}

const defaultMessagingUrls = {
  rabbitmq: "amqp://guest:guest@127.0.0.1:5672",
  nats: "nats://127.0.0.1:4222",
} as const;

class Aborted extends Error {}

/**
 * `flotilla up`: starts the database, the bus database, the registry, the trace collector, the
 * gateway and every service instance, in this order; writes `state.json`; waits for every instance
 * to pass its health check and prints the URLs and the time to ready; restarts crashed instances;
 * on SIGINT/SIGTERM stops everything in reverse order (a second signal kills the services at once)
 * and removes `state.json`. Resolves with the exit code: 0 after a clean stop, 1 when the start
 * failed or the stop did not go cleanly, 130 when forced.
 */
export async function runUp(options: UpOptions): Promise<number> {
  const run = new UpRun(options);
  return run.run();
}

class UpRun {
  readonly #o: UpOptions;
  readonly #config: LoadedSystemConfig;
  readonly #out: TerminalOutput;
  readonly #logDir: string;
  readonly #started = performance.now();
  readonly #components: { name: string; component: Component }[] = [];
  readonly #files: WriteStream[] = [];
  readonly #instances: InstanceProcess[] = [];
  #health = new Map<string, InstanceHealth>();
  #urls: { gateway?: string; registry: string; collector: string; database: string } = {
    registry: "",
    collector: "",
    database: "",
  };
  #stopRequested = false;
  #forced = false;
  #resolveStop: () => void = () => undefined;
  readonly #stopSignal = new Promise<void>((resolve) => {
    this.#resolveStop = resolve;
  });
  #stateWrite: Promise<void> = Promise.resolve();
  #stateDirty = false;
  #stateWritable = false;
  #poller: NodeJS.Timeout | undefined;
  #ready = false;

  constructor(options: UpOptions) {
    this.#o = options;
    this.#config = options.config;
    this.#out = options.out;
    this.#logDir = join(options.config.stateDir, "logs");
  }

  async run(): Promise<number> {
    const existing = await readState(this.#config.stateDir);
    if (existing !== undefined) {
      throw new CliError(
        CliErrorCode.StartFailed,
        `${existing.name} is already running (pid ${existing.pid}, state in ${join(this.#config.stateDir, "state.json")}); stop it first`,
      );
    }
    await mkdir(this.#logDir, { recursive: true });
    const onSignal = (signal: NodeJS.Signals) => this.#onSignal(signal);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let code = 0;
    try {
      await this.#startAll();
      this.#out.line(this.#summary());
      await this.#stopSignal;
    } catch (error) {
      if (!(error instanceof Aborted)) {
        this.#out.clearStatus();
        this.#out.line(`${this.#out.paint(31, "✗")} ${(error as Error).message}${causeText(error)}`);
        code = 1;
      }
    }
    const stoppedCleanly = await this.#stopAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (this.#forced) return 130;
    return stoppedCleanly ? code : 1;
  }

  #onSignal(signal: NodeJS.Signals): void {
    if (!this.#stopRequested) {
      this.#stopRequested = true;
      this.#out.clearStatus();
      this.#out.line(
        `${signal} received: stopping (${signal === "SIGINT" ? "Ctrl-C" : "signal"} again to force)`,
      );
      this.#resolveStop();
      return;
    }
    if (this.#forced) return;
    this.#forced = true;
    this.#out.line("forcing: killing every service instance");
    for (const instance of this.#instances) instance.kill();
  }

  #checkStop(): void {
    if (this.#stopRequested) throw new Aborted();
  }

  #progress(name: string, detail: string, since: number): void {
    const seconds = ((performance.now() - since) / 1000).toFixed(1);
    this.#out.line(
      `${this.#out.paint(32, "✓")} ${name.padEnd(10)} ${detail} ${this.#out.paint(2, `(${seconds} s)`)}`,
    );
  }

  async #step<T>(what: string, start: () => Promise<T>): Promise<T> {
    this.#checkStop();
    this.#out.setStatus(`${this.#out.paint(33, "…")} starting ${what}`);
    return start();
  }

  async #startAll(): Promise<void> {
    const config = this.#config;
    const level = this.#o.logLevel ?? "info";
    const services = Object.keys(config.services);
    const ids = Object.entries(config.services).flatMap(([name, s]) =>
      Array.from({ length: s.instances }, (_, i) => `${name}-${i + 1}`),
    );
    this.#out.setPrefixWidth(Math.max(10, ...ids.map((id) => id.length)));

    let since = performance.now();
    let adminUrl: string;
    if (config.database.url !== undefined) {
      adminUrl = config.database.url;
      this.#progress("database", `PostgreSQL at ${redact(adminUrl)}`, since);
    } else {
      const logFile = this.#file("database");
      const db = await this.#step("embedded PostgreSQL", () =>
        startEmbeddedDatabase({
          dataDir: join(config.stateDir, "postgres"),
          port: config.database.port,
          onLog: (line) => logFile.write(`${line}\n`),
          onUnexpectedExit: (how) => {
            this.#out.clearStatus();
            this.#out.line(
              `${this.#out.paint(31, "✗")} database   exited on its own (${how}): the services cannot reach it; its log: ${join(this.#logDir, "database.log")}`,
            );
          },
        }),
      );
      this.#components.push({ name: "database", component: { url: db.adminUrl, stop: () => db.stop() } });
      this.#checkStop();
      adminUrl = db.adminUrl;
      this.#progress(
        "database",
        `embedded PostgreSQL on 127.0.0.1:${config.database.port} (${db.created ? "new" : "reused"} data in ${join(config.stateDir, "postgres")})`,
        since,
      );
    }
    this.#urls.database = adminUrl;

    since = performance.now();
    const transport = config.messaging.transport;
    let messagingUrl = config.messaging.url;
    if (messagingUrl === undefined) {
      messagingUrl =
        transport === "postgres"
          ? await this.#step("the bus database", () => ensureDatabase(adminUrl, "flotilla_bus"))
          : defaultMessagingUrls[transport];
    }
    this.#progress("messaging", `${transport} at ${redact(messagingUrl)}`, since);

    since = performance.now();
    const registryLog = componentLogger(this.#logDir, "registry", level);
    this.#files.push(registryLog.file);
    const registry = await this.#step("the registry", () =>
      startRegistry({
        dataDir: join(config.stateDir, "registry"),
        port: config.registry.port,
        logger: registryLog.logger,
      }),
    );
    this.#components.push({ name: "registry", component: registry });
    this.#checkStop();
    this.#urls.registry = registry.url;
    this.#progress("registry", registry.url, since);

    since = performance.now();
    const collector = await this.#step("the trace collector", () =>
      startTraceCollector(config.collector.port),
    );
    this.#components.push({ name: "collector", component: collector });
    this.#checkStop();
    this.#urls.collector = collector.url;
    this.#progress(
      "collector",
      `${collector.url} (OTLP/HTTP ${collector.url}/v1/traces, query API ${collector.url}/api)`,
      since,
    );

    const gatewayConfig = config.gateway;
    if (gatewayConfig !== undefined) {
      since = performance.now();
      const gatewayLog = componentLogger(this.#logDir, "gateway", level);
      this.#files.push(gatewayLog.file);
      const gateway = await this.#step("the gateway", () =>
        startSystemGateway({
          configFile: gatewayConfig.config,
          port: gatewayConfig.port,
          registryUrl: registry.url,
          logger: gatewayLog.logger,
        }),
      );
      this.#components.push({ name: "gateway", component: gateway });
      this.#checkStop();
      this.#urls.gateway = gateway.url;
      this.#progress("gateway", gateway.url, since);
    }

    this.#checkStop();
    since = performance.now();
    const baseEnv = this.#o.env ?? process.env;
    for (const [service, spec] of Object.entries(config.services)) {
      for (let n = 1; n <= spec.instances; n++) {
        const instanceId = `${service}-${n}`;
        const instance: InstanceProcess = new InstanceProcess({
          service,
          instanceId,
          main: spec.main,
          cwd: dirname(config.file),
          env: {
            ...baseEnv,
            FLOTILLA_LOG_PRETTY: "0",
            FLOTILLA_LOG_LEVEL: level,
            FLOTILLA_REGISTRY_URL: registry.url,
            FLOTILLA_DATABASE_ADMIN_URL: adminUrl,
            FLOTILLA_TELEMETRY_ENDPOINT: `${collector.url}/v1/traces`,
            FLOTILLA_MESSAGING_TRANSPORT: transport,
            FLOTILLA_MESSAGING_URL: messagingUrl,
            FLOTILLA_INSTANCE_ID: instanceId,
            FLOTILLA_PORT: "0",
            ...spec.env,
          },
          logFile: this.#file(instanceId),
          onLine: (line) =>
            this.#out.log(
              service,
              instanceId,
              formatLogLine(line, (c, t) => this.#out.paint(c, t)),
            ),
          onEvent: (message) => this.#out.log(service, instanceId, this.#out.paint(33, `⟳ ${message}`)),
          onChange: () => this.#saveState(),
        });
        this.#instances.push(instance);
        instance.start();
      }
    }
    this.#stateWritable = true;
    this.#saveState();
    this.#progress(
      "services",
      `${this.#instances.length} instances of ${services.length} services started`,
      since,
    );

    this.#poll(services);
    await this.#waitReady();
  }

  async #waitReady(): Promise<void> {
    const deadline = performance.now() + (this.#o.readyTimeoutMs ?? 60_000);
    const done = () => this.#instances.every((i) => this.#health.get(i.instanceId)?.status === "passing");
    while (!done()) {
      this.#checkStop();
      if (performance.now() > deadline) {
        const late = this.#instances
          .filter((i) => this.#health.get(i.instanceId)?.status !== "passing")
          .map((i) => `${i.instanceId} (${this.#health.get(i.instanceId)?.status ?? "not registered"})`);
        this.#out.line(
          this.#out.paint(
            33,
            `! not ready after ${(this.#o.readyTimeoutMs ?? 60_000) / 1000} s: ${late.join(", ")}`,
          ),
        );
        return;
      }
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 200)), this.#stopSignal]);
    }
    this.#checkStop();
    this.#ready = true;
  }

  #poll(services: readonly string[]): void {
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        this.#health = await registryHealth(this.#urls.registry, services);
        this.#saveState();
        this.#out.setStatus(this.#statusLine());
      } finally {
        running = false;
      }
    };
    void tick();
    this.#poller = setInterval(() => void tick(), 500);
  }

  #statusLine(): string {
    const parts: string[] = [];
    const byService = new Map<string, InstanceProcess[]>();
    for (const i of this.#instances) byService.set(i.service, [...(byService.get(i.service) ?? []), i]);
    for (const [service, instances] of byService) {
      const passing = instances.filter((i) => this.#health.get(i.instanceId)?.status === "passing").length;
      const color = passing === instances.length ? 32 : passing === 0 ? 31 : 33;
      parts.push(
        `${this.#out.paint(this.#out.colorOf(service), service)} ${this.#out.paint(color, `${passing}/${instances.length}`)}`,
      );
    }
    const phase = this.#ready ? this.#out.paint(32, "● up") : this.#out.paint(33, "… starting");
    return `${phase}  ${parts.join("  ")}  ${this.#out.paint(2, "Ctrl-C to stop")}`;
  }

  #summary(): string {
    const seconds = ((performance.now() - this.#started) / 1000).toFixed(1);
    const lines = [
      "",
      `${this.#config.name} ${this.#ready ? "is up" : "is running (not every instance is ready)"}`,
      ...(this.#urls.gateway === undefined ? [] : [`  gateway    ${this.#urls.gateway}`]),
      `  registry   ${this.#urls.registry}`,
      `  collector  ${this.#urls.collector}`,
      `  database   ${redact(this.#urls.database)}`,
      `  logs       ${this.#logDir}`,
      "",
      this.#ready ? `ready in ${seconds} s` : `started in ${seconds} s`,
    ];
    return lines.join("\n");
  }

  #state(): SystemState {
    const services: Record<string, InstanceState[]> = {};
    for (const instance of this.#instances) {
      const health = this.#health.get(instance.instanceId);
      const state: InstanceState = {
        ...instance.state(),
        ...(health === undefined ? {} : { port: health.port, health: health.status }),
      };
      services[instance.service] = [...(services[instance.service] ?? []), state];
    }
    return {
      name: this.#config.name,
      pid: process.pid,
      startedAt: new Date(Date.now() - (performance.now() - this.#started)).toISOString(),
      urls: this.#urls,
      logDir: this.#logDir,
      services,
    };
  }

  /** Writes state.json after the write in progress, coalescing changes that arrive meanwhile. */
  #saveState(): void {
    if (!this.#stateWritable) return;
    if (this.#stateDirty) return;
    this.#stateDirty = true;
    this.#stateWrite = this.#stateWrite.then(async () => {
      this.#stateDirty = false;
      if (!this.#stateWritable) return;
      try {
        await writeState(this.#config.stateDir, this.#state());
      } catch (error) {
        this.#out.line(this.#out.paint(33, `! cannot write state.json: ${(error as Error).message}`));
      }
    });
  }

  #file(name: string): WriteStream {
    const file = createWriteStream(join(this.#logDir, `${name}.log`), { flags: "a" });
    this.#files.push(file);
    return file;
  }

  /** Stops services, then the components in reverse start order; true when everything stopped cleanly. */
  async #stopAll(): Promise<boolean> {
    if (this.#poller !== undefined) clearInterval(this.#poller);
    this.#out.clearStatus();
    let clean = true;
    if (this.#instances.length > 0) {
      const since = performance.now();
      await Promise.all(this.#instances.map((i) => i.stop(this.#o.stopGraceMs ?? 15_000)));
      this.#progress("services", "stopped", since);
    }
    for (const { name, component } of this.#components.reverse()) {
      const since = performance.now();
      try {
        await component.stop();
        this.#progress(name, "stopped", since);
      } catch (error) {
        clean = false;
        this.#out.line(
          `${this.#out.paint(31, "✗")} ${name} did not stop cleanly: ${(error as Error).message}`,
        );
      }
    }
    this.#stateWritable = false;
    await this.#stateWrite;
    await removeState(this.#config.stateDir);
    await Promise.all(
      this.#files.map(
        (file) => new Promise<void>((resolve) => (file.closed ? resolve() : file.end(resolve))),
      ),
    );
    return clean;
  }
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause === undefined || cause === null) return "";
  const message = cause instanceof Error ? cause.message : String(cause);
  return message === "" || (error as Error).message.includes(message) ? "" : `\n  cause: ${message}`;
}
