/**
 * Preload entry: starts telemetry from the OpenTelemetry environment variables before the
 * application's own modules load, so that every library it imports is instrumented:
 *
 * ```sh
 * OTEL_SERVICE_NAME=orders node --import @flotilla/observability/register ./dist/main.js
 * ```
 *
 * See `telemetryOptionsFromEnv` for the variables read. `OTEL_SDK_DISABLED=true` starts nothing.
 * The application reaches the telemetry with `activeTelemetry()` to shut it down on SIGTERM;
 * when the process ends by running out of work, the last spans are flushed on `beforeExit`.
 * @module
 */

import { activeTelemetry, initTelemetry } from "./telemetry.js";
import { telemetryOptionsFromEnv } from "./telemetry-env.js";

const options = telemetryOptionsFromEnv(process.env);
if (options !== undefined && activeTelemetry() === undefined) {
  const telemetry = initTelemetry(options);
  process.once("beforeExit", () => {
    telemetry.shutdown().catch((error: unknown) => {
      process.emitWarning(error instanceof Error ? error : String(error));
    });
  });
}
