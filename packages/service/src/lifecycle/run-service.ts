import type { AnyService } from "../server/define-service.js";
import { loadServiceConfig } from "./load-service-config.js";
import type { ServiceConfigInput } from "./service-config.js";
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

/**
 * The `main` of a service process: loads the config (JSON file + `FLOTILLA_*` environment),
 * starts the service, and on `SIGTERM` or `SIGINT` stops it gracefully (readiness 503 →
 * deregister → linger → drain → close) and exits 0 — 1 if stopping failed. A second signal exits
 * at once. A config error or failed start is written to stderr and exits 1.
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
): Promise<RunningService> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const { configFile, env, argv, defaults, exit: _exit, ...start } = options;
  let running: RunningService;
  try {
    const config = await loadServiceConfig({
      file: configFile ?? configArgument(argv ?? process.argv.slice(2)),
      ...(env === undefined ? {} : { env }),
      ...(defaults === undefined ? {} : { defaults: defaults as Record<string, unknown> }),
    });
    running = await startService(service, { ...start, config: config as ServiceConfigInput });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${JSON.stringify({ level: "fatal", service: service.name, msg: "service failed to start", error: message, code: (error as { code?: unknown }).code })}\n`,
    );
    exit(1);
    throw error;
  }
  const signals = ["SIGTERM", "SIGINT"] as const;
  const onSignal = (signal: NodeJS.Signals) => {
    for (const s of signals) process.off(s, onSignal);
    const now = () => exit(1);
    for (const s of signals) process.once(s, now);
    running.server.logger.info({ signal }, "signal received: shutting down");
    running.stop().then(
      () => exit(0),
      () => exit(1),
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return running;
}
