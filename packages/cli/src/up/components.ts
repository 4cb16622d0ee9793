import { createWriteStream, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { type GatewayConfigInput, startGateway } from "@flotilla/gateway";
import { createLogger, type Logger, startCollector } from "@flotilla/observability";
import { embeddedStore, type RegistryServer, registryServer } from "@flotilla/registry";
import { parse as parseYaml } from "yaml";
import { CliError, CliErrorCode } from "../config/cli-error.js";

/** A started part of the system: its URL and how to stop it. */
export interface Component {
  readonly url: string;
  stop(): Promise<void>;
}

/** A JSON-lines logger writing to `<logDir>/<name>.log`, and the stream to close after it. */
export function componentLogger(
  logDir: string,
  name: string,
  level: string,
): { logger: Logger; file: WriteStream } {
  const file = createWriteStream(join(logDir, `${name}.log`), { flags: "a" });
  const logger = createLogger({
    service: name,
    instanceId: name,
    level: level as "info",
    pretty: false,
    destination: file,
  });
  return { logger, file };
}

/** Starts the registry server in this process, its KV and instances durable under `dataDir`. */
export async function startRegistry(options: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<Component> {
  let server: RegistryServer | undefined;
  const store = await embeddedStore({
    dataDir: options.dataDir,
    logger: options.logger,
    expiryGuard: (lapsed, live) => server?.expiryGuard(lapsed, live) ?? true,
  });
  server = registryServer({ store, logger: options.logger, instanceId: "registry" });
  let port: number;
  try {
    ({ port } = await server.listen(options.port, "127.0.0.1"));
  } catch (error) {
    await server.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw new CliError(
      CliErrorCode.StartFailed,
      `registry: cannot listen on port ${options.port}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const running = server;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      await running.close();
      await store.close();
    },
  };
}

/** Starts the embedded trace collector (OTLP/HTTP receiver and query API) in this process. */
export async function startTraceCollector(port: number): Promise<Component> {
  const collector = await startCollector({ port, host: "127.0.0.1" });
  return { url: collector.url, stop: () => collector.close() };
}

/**
 * Starts the gateway in this process from a `@flotilla/gateway` configuration file (YAML, or JSON
 * for `.json`), with `listen.port` and `registry.urls` set by the system.
 */
export async function startSystemGateway(options: {
  configFile: string;
  port: number;
  registryUrl: string;
  logger: Logger;
}): Promise<Component> {
  let raw: unknown;
  try {
    const text = await readFile(options.configFile, "utf8");
    raw = extname(options.configFile) === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new CliError(
      CliErrorCode.StartFailed,
      `gateway: cannot read ${options.configFile}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const file = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const listen = (typeof file.listen === "object" && file.listen !== null ? file.listen : {}) as Record<
    string,
    unknown
  >;
  const config = {
    ...file,
    listen: { ...listen, port: options.port },
    registry: { urls: [options.registryUrl] },
  } as GatewayConfigInput;
  try {
    const gateway = await startGateway({ config, logger: options.logger });
    return { url: gateway.url, stop: () => gateway.close(5_000) };
  } catch (error) {
    throw new CliError(
      CliErrorCode.StartFailed,
      `gateway (${options.configFile}): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
