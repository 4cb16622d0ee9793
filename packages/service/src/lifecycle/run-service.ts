import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import { createLogger } from "@flotilla/observability";
import type { AnyService } from "../server/define-service.js";
import { loadServiceConfig } from "./load-service-config.js";
import {
  type ClusterPrimary,
  runCluster,
  workerIndexVariable,
  workerInstanceIdVariable,
  workerStopMessage,
} from "./run-cluster.js";
import type { ServiceConfig, ServiceConfigInput } from "./service-config.js";
import { type RunningService, type StartServiceOptions, startService } from "./start-service.js";

/** Options of {@link runService}. */
export interface RunServiceOptions extends Omit<StartServiceOptions, "config"> {
  /** A JSON config file. Default `--config <file>` from `argv`, else `FLOTILLA_CONFIG`, else none. */
  readonly configFile?: string | URL;
  /** Environment for `FLOTILLA_*` overrides. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments. Default `process.argv.slice(2)`. */
  readonly argv?: readonly string[];
  /** Values under the file and the environment. */
  readonly defaults?: ServiceConfigInput;
  /** Ends the process. Default `process.exit`. */
  readonly exit?: (code: number) => void;
}

function configArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config") return argv[i + 1];
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
  }
  return undefined;
}

/** Slack the primary gives its workers beyond their own linger and drain before killing them. */
const stopSlackMs = 10_000;

/** This process's worker instance id, when a {@link runCluster} primary forked it. */
function forkedWorkerInstanceId(): string | undefined {
  if (!cluster.isWorker || process.env[workerIndexVariable] === undefined) return undefined;
  return process.env[workerInstanceIdVariable];
}

function startPrimary(
  service: AnyService,
  config: ServiceConfig,
  exit: (code: number) => void,
): ClusterPrimary {
  const baseInstanceId =
    config.instanceId ?? `${service.name}-${process.pid}-${randomBytes(3).toString("hex")}`;
  return runCluster({
    workers: config.workers,
    baseInstanceId,
    logger: createLogger({
      service: service.name,
      instanceId: `${baseInstanceId}-primary`,
      ...(config.log.level === undefined ? {} : { level: config.log.level }),
    }),
    stopTimeoutMs: config.shutdown.linger + config.shutdown.drainTimeout + stopSlackMs,
    exit,
  });
}

/**
 * The `main` of a service process: loads the config (JSON file + `FLOTILLA_*` environment),
 * starts the service, and on `SIGTERM` or `SIGINT` stops it gracefully (readiness 503 →
 * deregister → linger → drain → close) and exits 0 — 1 if stopping failed. A second signal exits
 * at once. A config error or failed start is written to stderr and exits 1.
 *
 * With `workers` above 1 the process becomes a cluster primary ({@link runCluster}): it starts no
 * service itself, forks that many workers running this same program, and resolves with their
 * {@link ClusterPrimary}. Each worker's `runService` starts the service as instance
 * `<instanceId>-w<k>` on the shared port and also stops when the primary asks it to.
 *
 * ```ts
 * // main.ts
 * import { runService } from "@flotilla/service";
 * import { inventoryService } from "./inventory.service.js";
 * await runService(inventoryService);
 * ```
 */
export async function runService(
  service: AnyService,
  options: RunServiceOptions = {},
): Promise<RunningService | ClusterPrimary> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const { configFile, env, argv, defaults, exit: _exit, ...start } = options;
  const workerInstanceId = forkedWorkerInstanceId();
  let running: RunningService | undefined;
  let stopStarted = false;
  let stopRequested = false;
  const beginStop = (): void => {
    if (running === undefined) {
      stopRequested = true;
      return;
    }
    if (stopStarted) return;
    stopStarted = true;
    running.stop().then(
      () => exit(0),
      () => exit(1),
    );
  };
  const onMessage = (message: unknown) => {
    if (message !== workerStopMessage) return;
    running?.server.logger.info("stop requested by the cluster primary: shutting down");
    beginStop();
  };
  // Listening from before the start, so a stop the primary sends while this worker starts is kept.
  if (workerInstanceId !== undefined) process.on("message", onMessage);
  try {
    const config = await loadServiceConfig({
      file: configFile ?? configArgument(argv ?? process.argv.slice(2)),
      ...(env === undefined ? {} : { env }),
      ...(defaults === undefined ? {} : { defaults: defaults as Record<string, unknown> }),
    });
    if (workerInstanceId === undefined && config.workers > 1 && cluster.isPrimary) {
      return startPrimary(service, config, exit);
    }
    const startConfig = workerInstanceId === undefined ? config : { ...config, instanceId: workerInstanceId };
    running = await startService(service, { ...start, config: startConfig as ServiceConfigInput });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${JSON.stringify({ level: "fatal", service: service.name, msg: "service failed to start", error: message, code: (error as { code?: unknown }).code })}\n`,
    );
    exit(1);
    throw error;
  }
  const handle = running;
  const signals = ["SIGTERM", "SIGINT"] as const;
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    if (received > 1) {
      exit(1);
      return;
    }
    handle.server.logger.info({ signal }, "signal received: shutting down");
    beginStop();
  };
  for (const s of signals) process.on(s, onSignal);
  if (stopRequested) {
    handle.server.logger.info("stop requested by the cluster primary while starting: shutting down");
    beginStop();
  }
  return handle;
}
