import { createLogger, type Logger } from "@flotilla/observability";
import { isConfigError } from "@flotilla/resilience";
import type { ExpiryGuard } from "../store/embedded-store-options.js";
import type { Store } from "../store/store.js";
import {
  parseRegistryMainOptions,
  type RegistryMainOptions,
  registryMainUsage,
} from "./registry-main-options.js";
import { registryServer } from "./registry-server.js";

/** A registry started by {@link runRegistry}. */
export interface RunningRegistry {
  readonly url: string;
  readonly port: number;
  /** Closes the server, then the store it opened. */
  stop(): Promise<void>;
}

/**
 * Starts a registry process from flags and environment (see {@link registryMainUsage}): opens
 * the store (embedded in memory, embedded durable in `--data-dir`, or etcd), starts the server,
 * logs its URL, and on SIGTERM or SIGINT closes both and exits 0. A bad flag prints the reason
 * and exits 2. The embedded store asks the server's self-preservation before it expires leases,
 * so a registry that suspended expiry does not drop the leases either.
 */
export async function runRegistry(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<RunningRegistry | undefined> {
  let options: RegistryMainOptions;
  try {
    options = parseRegistryMainOptions(argv, env);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    process.stderr.write(`${error.message}\n\n${registryMainUsage}\n`);
    process.exitCode = 2;
    return undefined;
  }
  if (options.help) {
    process.stdout.write(`${registryMainUsage}\n`);
    return undefined;
  }
  const instanceId = `registry-${options.host}-${options.port}`;
  const logger = createLogger({ service: "flotilla-registry", instanceId, env });
  const running = await start(options, logger, instanceId);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "registry stopping");
    running.stop().then(
      () => {
        logger.info("registry stopped");
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "registry did not stop cleanly");
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return running;
}

async function start(
  options: RegistryMainOptions,
  logger: Logger,
  instanceId: string,
): Promise<RunningRegistry> {
  let guard: ExpiryGuard = () => true;
  let store: Store;
  if (options.etcd !== undefined) {
    const { etcdStore } = await import("../store/etcd-store.js");
    store = etcdStore({ endpoints: options.etcd, logger });
  } else {
    const { embeddedStore } = await import("../store/embedded-store.js");
    store = await embeddedStore({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      logger,
      expiryGuard: (lapsed, live) => guard(lapsed, live),
    });
    if (options.dataDir === undefined)
      logger.warn("no --data-dir or --etcd: the registry keeps its state in memory only");
  }
  const server = registryServer({
    store,
    logger,
    instanceId,
    selfPreservation:
      options.selfPreservationThreshold === false ? false : { threshold: options.selfPreservationThreshold },
  });
  guard = server.expiryGuard;
  let port: number;
  try {
    ({ port } = await server.listen(options.port, options.host));
  } catch (error) {
    await server.close();
    await store.close();
    throw error;
  }
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  logger.info({ url, port, store: store.kind, dataDir: options.dataDir }, `registry listening on ${url}`);
  return {
    url,
    port,
    async stop() {
      await server.close();
      await store.close();
    },
  };
}
