import { ConfigReader } from "@flotilla/resilience";
import type { TelemetryOptions, TraceExporterKind } from "./telemetry-options.js";
import type { B3Injection } from "./trace-propagator.js";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads {@link TelemetryOptions} from the standard OpenTelemetry environment variables
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/), for the
 * `@flotilla/observability/register` preload and for services configured by their deployment:
 *
 * - `OTEL_SDK_DISABLED=true`: returns `undefined`, start no telemetry;
 * - `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else
 *   `unknown_service:node`;
 * - `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`, percent-encoded): `service.version` and
 *   `service.instance.id` become those options, the rest resource attributes;
 * - `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio` and their `parentbased_`
 *   forms; sampling is always parent-based) with `OTEL_TRACES_SAMPLER_ARG` (the ratio);
 * - `OTEL_TRACES_EXPORTER`: `otlp` or `none`;
 * - `OTEL_PROPAGATORS`: W3C is always on; `b3` adds single-header B3 injection, `b3multi`
 *   multi-header (B3 is read either way);
 * - the `OTEL_EXPORTER_OTLP_*` endpoint and protocol variables, read by `initTelemetry`.
 *
 * Throws `ConfigError` (`FLT_CONFIG_INVALID`) naming each bad variable (`env.OTEL_TRACES_SAMPLER_ARG`).
 */
export function telemetryOptionsFromEnv(env: Env = process.env): TelemetryOptions | undefined {
  const reader = new ConfigReader();
  if (value(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;

  const resource = resourceAttributes(reader, value(env, "OTEL_RESOURCE_ATTRIBUTES"));
  const {
    "service.name": resourceName,
    "service.version": version,
    "service.instance.id": instance,
  } = resource;
  delete resource["service.name"];
  delete resource["service.version"];
  delete resource["service.instance.id"];
  const serviceName = value(env, "OTEL_SERVICE_NAME") ?? resourceName ?? "unknown_service:node";
  const sampleRatio = sampler(reader, env);
  const exporter = exporterKind(reader, value(env, "OTEL_TRACES_EXPORTER"));
  const injectB3 = propagators(reader, value(env, "OTEL_PROPAGATORS"));
  reader.throwIfInvalid();

  return {
    serviceName,
    ...(version === undefined ? {} : { serviceVersion: version }),
    ...(instance === undefined ? {} : { instanceId: instance }),
    attributes: resource,
    ...(sampleRatio === undefined ? {} : { sampleRatio }),
    exporter,
    injectB3,
    env,
  };
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}

function resourceAttributes(reader: ConfigReader, raw: string | undefined): Record<string, string> {
  const attributes: Record<string, string> = {};
  if (raw === undefined) return attributes;
  for (const pair of raw.split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    const key = eq < 0 ? "" : pair.slice(0, eq).trim();
    if (key === "") {
      reader.issue("env.OTEL_RESOURCE_ATTRIBUTES", `expected key=value pairs, got "${pair.trim()}"`);
      continue;
    }
    try {
      attributes[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      reader.issue("env.OTEL_RESOURCE_ATTRIBUTES", `bad percent-encoding in the value of "${key}"`);
    }
  }
  return attributes;
}

function sampler(reader: ConfigReader, env: Env): number | undefined {
  const name = value(env, "OTEL_TRACES_SAMPLER");
  if (name === undefined) return undefined;
  switch (name.replace(/^parentbased_/, "")) {
    case "always_on":
      return 1;
    case "always_off":
      return 0;
    case "traceidratio": {
      const arg = value(env, "OTEL_TRACES_SAMPLER_ARG");
      if (arg === undefined) return 1;
      const ratio = Number(arg);
      if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
        reader.issue("env.OTEL_TRACES_SAMPLER_ARG", `expected a ratio from 0 to 1, got "${arg}"`);
        return undefined;
      }
      return ratio;
    }
    default:
      reader.issue(
        "env.OTEL_TRACES_SAMPLER",
        `expected always_on, always_off, traceidratio or their parentbased_ forms, got "${name}"`,
      );
      return undefined;
  }
}

function exporterKind(reader: ConfigReader, raw: string | undefined): TraceExporterKind {
  if (raw === undefined || raw === "otlp") return "otlp";
  if (raw === "none") return "none";
  reader.issue("env.OTEL_TRACES_EXPORTER", `expected "otlp" or "none", got "${raw}"`);
  return "otlp";
}

function propagators(reader: ConfigReader, raw: string | undefined): B3Injection {
  let injectB3: B3Injection = false;
  for (const name of (raw ?? "").split(",").map((p) => p.trim())) {
    if (name === "" || name === "tracecontext" || name === "baggage") continue;
    if (name === "b3") injectB3 = "single";
    else if (name === "b3multi") injectB3 = "multi";
    else {
      reader.issue(
        "env.OTEL_PROPAGATORS",
        `expected tracecontext, baggage, b3 or b3multi (W3C is always on), got "${name}"`,
      );
    }
  }
  return injectB3;
}
