import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { createLogger, createMetrics, initTelemetry, type Telemetry } from "@flotilla/observability";
import { isConfigError } from "@flotilla/resilience";
import { hashApiKey } from "../auth/hash-api-key.js";
import { type Gateway, startGateway } from "./gateway.js";

/** Usage of the gateway process. */
export const gatewayMainUsage = `usage: flotilla-gateway --config <file.yaml|file.json> [--tracing]
       flotilla-gateway hash-key <api key>   print the "sha256:…" form to put in auth.apiKeys

  --config   the gateway configuration (YAML or JSON); watched, a change reloads the routes
  --tracing  send spans (OTLP over HTTP) to OTEL_EXPORTER_OTLP_ENDPOINT or the embedded collector
Environment: FLOTILLA_LOG_LEVEL, OTEL_* (tracing).`;

/**
 * Starts the gateway from flags: logger (JSON lines on stdout), Prometheus metrics (served by the
 * admin API), optional tracing, the configuration file. A bad flag or configuration prints every
 * problem with its path and exits 2 (flags) or 78 (configuration); SIGTERM or SIGINT drains
 * running requests, closes everything and exits 0.
 */
export async function runGateway(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<Gateway | undefined> {
  if (argv[0] === "hash-key") {
    if (argv.length !== 2 || argv[1] === "") {
      process.stderr.write(`hash-key takes one API key\n\n${gatewayMainUsage}\n`);
      process.exitCode = 2;
    } else process.stdout.write(`${hashApiKey(argv[1]!)}\n`);
    return undefined;
  }
  let values: { config?: string | undefined; tracing?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: "string" },
        tracing: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${gatewayMainUsage}\n`);
    process.exitCode = 2;
    return undefined;
  }
  if (values.help === true) {
    process.stdout.write(`${gatewayMainUsage}\n`);
    return undefined;
  }
  if (values.config === undefined) {
    process.stderr.write(`--config is required\n\n${gatewayMainUsage}\n`);
    process.exitCode = 2;
    return undefined;
  }
  const instanceId = `gateway-${hostname()}-${process.pid}`;
  const logger = createLogger({ service: "flotilla-gateway", instanceId, env });
  const metrics = createMetrics({ service: "flotilla-gateway", instanceId });
  let telemetry: Telemetry | undefined;
  if (values.tracing === true) {
    telemetry = initTelemetry({ serviceName: "flotilla-gateway", instanceId, env });
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      configFile: values.config,
      logger,
      durations: metrics.httpServer,
      metricsText: () => metrics.render(),
      tracing: telemetry !== undefined,
    });
  } catch (error) {
    if (!isConfigError(error)) throw error;
    process.stderr.write(`${error.message}\n`);
    logger.flush();
    await telemetry?.shutdown();
    process.exitCode = 78;
    return undefined;
  }
  logger.info(
    { url: gateway.url, https: gateway.httpsUrl, admin: gateway.adminUrl },
    `gateway listening on ${gateway.url}`,
  );
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "gateway stopping");
    gateway
      .close()
      .then(() => telemetry?.shutdown())
      .then(
        () => {
          logger.info("gateway stopped");
          logger.flush();
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, "gateway did not stop cleanly");
          logger.flush();
          process.exit(1);
        },
      );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return gateway;
}
