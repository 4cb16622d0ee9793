import type { IncomingMessage } from "node:http";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { sep } from "node:path";
import type { TracerProvider } from "@opentelemetry/api";
import type { Instrumentation } from "@opentelemetry/instrumentation";
import { HttpInstrumentation, type HttpInstrumentationConfig } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import type { ResolvedTelemetryOptions } from "./telemetry-options.js";

const require = createRequire(import.meta.url);

// One instance of each instrumentation per process, re-enabled by every telemetry: an
// instrumentation patches a module when its require hook first sees it, and the shared hook
// never reports a module twice, so a second instance would never patch a module that the first
// one already saw. A disabled instance remembers the modules it patched and patches them again
// when it is enabled. Instances are created disabled, so that no hook runs before the tracer
// provider is set, and `setConfig` (whose `enabled` defaults to true, which undici checks on
// every request) precedes each `enable()`.
let http: HttpInstrumentation | undefined;
let undici: UndiciInstrumentation | undefined;
let pg: PgInstrumentation | undefined;

/** Files whose loading the pg instrumentation hooks, as they appear in `require.cache`. */
const pgFiles = [
  `${sep}node_modules${sep}pg${sep}lib${sep}client.js`,
  `${sep}node_modules${sep}pg-pool${sep}index.js`,
];

/**
 * Enables the official instrumentations that `options` asks for, bound to `tracerProvider`, and
 * returns the function that disables them again.
 *
 * - `node:http`/`node:https` are patched at once, however and whenever the application imported
 *   them: requiring a built-in runs the instrumentation's require hook on the loaded module,
 *   which patches `request`, `get` and `Server.prototype.emit` on the shared exports object, and
 *   `syncBuiltinESMExports()` carries the patch to ESM named imports
 *   (`import { request } from "node:http"`). Disabling restores and re-syncs them.
 * - undici and `fetch` are traced through diagnostics channels, so load order does not matter.
 * - `pg` is patched when its files are required, and its internal `require`s are CommonJS even
 *   when the application imports `pg` from ESM, so no ESM loader hook is needed. A `pg` that was
 *   loaded before the first telemetry started is found in `require.cache` and required once more
 *   through the hook, which patches it then.
 * @internal
 */
export function enableInstrumentations(
  options: ResolvedTelemetryOptions,
  tracerProvider: TracerProvider,
): () => void {
  const enabled: Instrumentation[] = [];
  if (options.http !== false) {
    http ??= new HttpInstrumentation({ enabled: false });
    http.setConfig(httpConfig(options.http));
    enabled.push(http);
  }
  if (options.undici) {
    undici ??= new UndiciInstrumentation({ enabled: false });
    undici.setConfig({});
    enabled.push(undici);
  }
  if (options.pg !== false) {
    pg ??= new PgInstrumentation({ enabled: false });
    pg.setConfig({
      requireParentSpan: options.pg.requireParentSpan,
      ignoreConnectSpans: !options.pg.connectSpans,
    });
    enabled.push(pg);
  }
  for (const instrumentation of enabled) {
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.enable();
  }
  if (options.http !== false) {
    require("node:http");
    require("node:https");
    syncBuiltinESMExports();
  }
  if (options.pg !== false) requireLoaded(pgFiles);
  return () => {
    for (const instrumentation of enabled) instrumentation.disable();
    if (options.http !== false) syncBuiltinESMExports();
  };
}

/**
 * OTLP/HTTP intake (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`): a collector running in a
 * traced process would otherwise trace each export it receives, and export that trace in turn.
 */
function isOtlpIntake(request: IncomingMessage): boolean {
  const url = request.url;
  return (
    request.method === "POST" &&
    url !== undefined &&
    (url.startsWith("/v1/traces") || url.startsWith("/v1/metrics") || url.startsWith("/v1/logs"))
  );
}

function httpConfig(options: Exclude<ResolvedTelemetryOptions["http"], false>): HttpInstrumentationConfig {
  const { ignoreIncoming } = options;
  return {
    disableIncomingRequestInstrumentation: !options.incoming,
    disableOutgoingRequestInstrumentation: !options.outgoing,
    ignoreIncomingRequestHook:
      ignoreIncoming === undefined
        ? isOtlpIntake
        : (request) => isOtlpIntake(request) || ignoreIncoming(request),
    ...(options.ignoreOutgoing === undefined ? {} : { ignoreOutgoingRequestHook: options.ignoreOutgoing }),
  };
}

function requireLoaded(suffixes: readonly string[]): void {
  for (const filename of Object.keys(require.cache)) {
    if (suffixes.some((suffix) => filename.endsWith(suffix))) require(filename);
  }
}
