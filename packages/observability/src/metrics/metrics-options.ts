import { ConfigReader } from "@flotilla/resilience";
import { httpDurationBuckets } from "./http-duration-histogram.js";

/** How to build a {@link Metrics} registry: plain data, validated by {@link parseMetricsOptions}. */
export interface MetricsOptions {
  /** The service's name; every series carries it as the `service` label. */
  readonly service: string;
  /**
   * This process's instance id; every series carries it as `service_instance_id` (OpenTelemetry's
   * `service.instance.id`). Not `instance`: Prometheus sets that label itself at scrape time.
   */
  readonly instanceId: string;
  /** More labels on every series. Names must be valid Prometheus label names. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
  /** Register prom-client's process and Node.js runtime metrics (default true). */
  readonly collectDefaults?: boolean;
  /** A prefix for the process and runtime metrics only; the HTTP and resilience names are fixed. */
  readonly prefix?: string;
  /** The path {@link Metrics.handle} answers (default `/metrics`). */
  readonly path?: string;
  /** Bucket upper bounds in seconds of both HTTP histograms (default OpenTelemetry's, 5 ms to 10 s). */
  readonly buckets?: readonly number[];
  /** Distinct label sets per HTTP histogram before new ones go to the overflow series (default 1000). */
  readonly cardinalityLimit?: number;
}

/** {@link MetricsOptions} after validation, with every default filled in. */
export interface ResolvedMetricsOptions {
  readonly service: string;
  readonly instanceId: string;
  readonly defaultLabels: Readonly<Record<string, string>>;
  readonly collectDefaults: boolean;
  readonly prefix: string;
  readonly path: string;
  readonly buckets: readonly number[];
  readonly cardinalityLimit: number;
}

/** The label names this package sets itself, which `defaultLabels` may not reuse. */
export const reservedLabelNames: readonly string[] = [
  "service",
  "service_instance_id",
  "le",
  "quantile",
  "name",
  "kind",
  "state",
  "scope",
  "http_request_method",
  "http_route",
  "http_response_status_code",
  "server",
];

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const metricPrefix = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const known = [
  "service",
  "instanceId",
  "defaultLabels",
  "collectDefaults",
  "prefix",
  "path",
  "buckets",
  "cardinalityLimit",
];

/**
 * Validates `options` and fills in the defaults. Records every problem in `reader` with its path
 * (`defaultLabels.region`, `buckets[2]`); the caller throws them together.
 */
export function parseMetricsOptions(
  options: MetricsOptions,
  reader: ConfigReader = new ConfigReader(),
): ResolvedMetricsOptions {
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  if (raw.service === undefined) reader.issue("service", "is required");
  if (raw.instanceId === undefined) reader.issue("instanceId", "is required");
  const service = reader.string(raw, "service", "", "unknown");
  const instanceId = reader.string(raw, "instanceId", "", "unknown");

  const defaultLabels: Record<string, string> = {};
  const labels = reader.object(raw.defaultLabels, "defaultLabels");
  for (const [name, value] of Object.entries(labels)) {
    const at = `defaultLabels.${name}`;
    if (!labelName.test(name) || name.startsWith("__")) {
      reader.issue(at, "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
    } else if (reservedLabelNames.includes(name)) {
      reader.issue(at, "is a label this package sets itself");
    } else if (typeof value !== "string") {
      reader.issue(at, `expected a string, got ${typeof value}`);
    } else defaultLabels[name] = value;
  }

  const prefix = raw.prefix === "" ? "" : reader.string(raw, "prefix", "", "");
  if (prefix !== "" && !metricPrefix.test(prefix)) {
    reader.issue("prefix", `"${prefix}" is not a valid start of a Prometheus metric name`);
  }

  const path = reader.string(raw, "path", "", "/metrics");
  if (!path.startsWith("/")) reader.issue("path", `must start with "/", got "${path}"`);

  return {
    service,
    instanceId,
    defaultLabels,
    collectDefaults: reader.boolean(raw, "collectDefaults", "", true),
    prefix,
    path,
    buckets: readBuckets(raw.buckets, reader),
    cardinalityLimit: reader.number(raw, "cardinalityLimit", "", 1000, { min: 1, integer: true }),
  };
}

function readBuckets(value: unknown, reader: ConfigReader): readonly number[] {
  if (value === undefined) return httpDurationBuckets;
  if (!Array.isArray(value) || value.length === 0) {
    reader.issue("buckets", "expected a non-empty array of increasing upper bounds in seconds");
    return httpDurationBuckets;
  }
  let previous = 0;
  let valid = true;
  value.forEach((bound: unknown, i) => {
    if (typeof bound !== "number" || !Number.isFinite(bound) || bound <= previous) {
      reader.issue(
        `buckets[${i}]`,
        `expected a finite number greater than ${previous}, got ${typeof bound === "number" ? bound : typeof bound}`,
      );
      valid = false;
    } else previous = bound;
  });
  return valid ? Object.freeze([...(value as number[])]) : httpDurationBuckets;
}
