import { randomUUID } from "node:crypto";
import type { IncomingMessage, RequestOptions } from "node:http";
import { ConfigReader, type Duration } from "@flotilla/resilience";
import type { B3Injection } from "./trace-propagator.js";

/**
 * Where finished spans go:
 * - `otlp`: OTLP/HTTP to a collector (`endpoint`), in batches;
 * - `memory`: kept in memory, one by one as they end, for tests (`Telemetry.finishedSpans()`);
 * - `none`: nowhere; context still propagates and sampling decisions still flow downstream.
 */
export type TraceExporterKind = "otlp" | "memory" | "none";

/** The OTLP/HTTP encoding: protobuf (compact, the default) or JSON. */
export type OtlpProtocol = "http/protobuf" | "http/json";

/** Sizes and delays of the batch span processor used by the `otlp` exporter. */
export interface BatchOptions {
  /**
   * Spans buffered while waiting for export; spans that end while it is full are dropped (and
   * counted by the SDK), so a stalled collector costs bounded memory. Default 2048 (about 2 MB
   * of typical HTTP spans).
   */
  readonly maxQueueSize?: number;
  /** Spans per export request, at most `maxQueueSize`. Default 512. */
  readonly maxExportBatchSize?: number;
  /** Longest wait before a partial batch is sent. Default `"1s"`, so a local collector shows traces promptly. */
  readonly scheduledDelay?: Duration;
  /** How long one export request may take before it is abandoned. Default `"10s"`. */
  readonly exportTimeout?: Duration;
}

/** Options of the `node:http`/`node:https` instrumentation. */
export interface HttpInstrumentationOptions {
  /** Trace inbound requests (server spans). Default `true`. */
  readonly incoming?: boolean;
  /** Trace outbound `http.request`/`http.get` (client spans). Default `true`. */
  readonly outgoing?: boolean;
  /** Inbound requests for which this returns `true` get no span (health checks, metrics scrapes). */
  readonly ignoreIncoming?: (request: IncomingMessage) => boolean;
  /** Outbound requests for which this returns `true` get no span. */
  readonly ignoreOutgoing?: (request: RequestOptions) => boolean;
}

/** Options of the `pg` instrumentation. */
export interface PgInstrumentationOptions {
  /**
   * Trace only queries made under an active span. Default `true`, so background pollers (an
   * outbox relay querying every 100 ms) do not start a trace per query.
   */
  readonly requireParentSpan?: boolean;
  /** Also trace `pg.connect` and `pg-pool.connect`. Default `false`: query spans only. */
  readonly connectSpans?: boolean;
}

/** Which libraries are traced; each is on unless set to `false`. */
export interface InstrumentationOptions {
  /** Inbound and outbound `node:http` and `node:https`. */
  readonly http?: boolean | HttpInstrumentationOptions;
  /** undici and the global `fetch` (which is undici), through their diagnostics channels. */
  readonly undici?: boolean;
  /** The `pg` PostgreSQL client and its pool. */
  readonly pg?: boolean | PgInstrumentationOptions;
}

/** Options of `initTelemetry`. */
export interface TelemetryOptions {
  /** `service.name`: the service's logical name, such as `orders`. Required. */
  readonly serviceName: string;
  /** `service.version`. Default `"0.0.0"`. */
  readonly serviceVersion?: string;
  /** `service.instance.id`: this process among the service's replicas. Default a random UUID. */
  readonly instanceId?: string;
  /** Further resource attributes (`deployment.environment.name`, `service.namespace` …). */
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Fraction of new traces to sample, 0 to 1. Default 1. Sampling is parent-based: a request
   * that arrives with a sampled (or unsampled) parent keeps that decision, so a trace is never
   * cut in the middle; the ratio decides only for traces that start here.
   */
  readonly sampleRatio?: number;
  /** Where spans go. Default `"otlp"`. */
  readonly exporter?: TraceExporterKind;
  /**
   * OTLP encoding. Default from `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or
   * `OTEL_EXPORTER_OTLP_PROTOCOL`, else `"http/protobuf"`.
   */
  readonly protocol?: OtlpProtocol;
  /**
   * The collector's OTLP/HTTP traces URL. Default from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
   * (used as is), else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else
   * `http://127.0.0.1:4318/v1/traces` (the embedded collector).
   */
  readonly endpoint?: string;
  /** Extra HTTP headers on every export request (an API key, for instance). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Batch processor sizes for the `otlp` exporter. */
  readonly batch?: BatchOptions;
  /** Also write B3 headers on outbound requests. Default `false`; B3 is always read. */
  readonly injectB3?: B3Injection;
  /** Which libraries are traced. Default: all. */
  readonly instrumentations?: InstrumentationOptions;
  /** Environment read for the defaults above. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** {@link TelemetryOptions} after validation, with every default applied. */
export interface ResolvedTelemetryOptions {
  readonly serviceName: string;
  readonly serviceVersion: string;
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly sampleRatio: number;
  readonly exporter: TraceExporterKind;
  readonly protocol: OtlpProtocol;
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly batch: {
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly scheduledDelayMs: number;
    readonly exportTimeoutMs: number;
  };
  readonly injectB3: B3Injection;
  readonly http:
    | false
    | (Required<Pick<HttpInstrumentationOptions, "incoming" | "outgoing">> &
        Pick<HttpInstrumentationOptions, "ignoreIncoming" | "ignoreOutgoing">);
  readonly undici: boolean;
  readonly pg: false | Required<PgInstrumentationOptions>;
}

/** The embedded collector's OTLP/HTTP traces URL, the default `endpoint`. */
export const defaultTraceEndpoint = "http://127.0.0.1:4318/v1/traces";

const telemetryKeys = [
  "serviceName",
  "serviceVersion",
  "instanceId",
  "attributes",
  "sampleRatio",
  "exporter",
  "protocol",
  "endpoint",
  "headers",
  "batch",
  "injectB3",
  "instrumentations",
  "env",
] as const;
const batchKeys = ["maxQueueSize", "maxExportBatchSize", "scheduledDelay", "exportTimeout"] as const;
const instrumentationKeys = ["http", "undici", "pg"] as const;
const httpKeys = ["incoming", "outgoing", "ignoreIncoming", "ignoreOutgoing"] as const;
const pgKeys = ["requireParentSpan", "connectSpans"] as const;
const exporters: readonly TraceExporterKind[] = ["otlp", "memory", "none"];
const protocols: readonly OtlpProtocol[] = ["http/protobuf", "http/json"];

/**
 * Validates {@link TelemetryOptions} and applies the defaults, reading the environment where an
 * option is absent. Throws `@flotilla/resilience`'s `ConfigError` (`FLT_CONFIG_INVALID`) listing
 * every problem with its path (`batch.maxExportBatchSize: must be at most maxQueueSize (2048),
 * got 4096`; `env.OTEL_EXPORTER_OTLP_PROTOCOL: …`).
 */
export function parseTelemetryOptions(raw: unknown): ResolvedTelemetryOptions {
  const reader = new ConfigReader();
  const obj = reader.object(raw, "");
  reader.knownKeys(obj, telemetryKeys, "");
  const env = readEnv(reader, obj.env);

  if (obj.serviceName === undefined) reader.issue("serviceName", "required: the service's logical name");
  const serviceName = reader.string(obj, "serviceName", "", "unknown_service");
  const serviceVersion = reader.string(obj, "serviceVersion", "", "0.0.0");
  const instanceId = obj.instanceId === undefined ? randomUUID() : reader.string(obj, "instanceId", "", "");
  const attributes = readAttributes(reader, obj.attributes);
  const sampleRatio = reader.number(obj, "sampleRatio", "", 1, { min: 0, max: 1 });
  const exporter = reader.oneOf(obj, "exporter", "", exporters, "otlp");
  const protocol =
    obj.protocol !== undefined
      ? reader.oneOf(obj, "protocol", "", protocols, "http/protobuf")
      : envProtocol(reader, env);
  const endpoint =
    obj.endpoint !== undefined ? readUrl(reader, obj.endpoint, "endpoint") : envEndpoint(reader, env);
  const headers = readHeaders(reader, obj.headers);

  const batchObj = reader.object(obj.batch, "batch");
  reader.knownKeys(batchObj, batchKeys, "batch");
  const maxQueueSize = reader.number(batchObj, "maxQueueSize", "batch", 2048, { min: 1, integer: true });
  const maxExportBatchSize = reader.number(batchObj, "maxExportBatchSize", "batch", 512, {
    min: 1,
    integer: true,
  });
  if (maxExportBatchSize > maxQueueSize) {
    reader.issue(
      "batch.maxExportBatchSize",
      `must be at most maxQueueSize (${maxQueueSize}), got ${maxExportBatchSize}`,
    );
  }
  const scheduledDelayMs = reader.duration(batchObj, "scheduledDelay", "batch", 1000, { above: 0 });
  const exportTimeoutMs = reader.duration(batchObj, "exportTimeout", "batch", 10_000, { above: 0 });

  const injectB3 = readInjectB3(reader, obj.injectB3);

  const inst = reader.object(obj.instrumentations, "instrumentations");
  reader.knownKeys(inst, instrumentationKeys, "instrumentations");
  const http = readHttp(reader, inst.http);
  const undici = reader.boolean(inst, "undici", "instrumentations", true);
  const pg = readPg(reader, inst.pg);

  reader.throwIfInvalid();
  return {
    serviceName,
    serviceVersion,
    instanceId,
    attributes,
    sampleRatio,
    exporter,
    protocol,
    endpoint,
    headers,
    batch: { maxQueueSize, maxExportBatchSize, scheduledDelayMs, exportTimeoutMs },
    injectB3,
    http,
    undici,
    pg,
  };
}

function readEnv(reader: ConfigReader, raw: unknown): Readonly<Record<string, string | undefined>> {
  if (raw === undefined) return process.env;
  const env = reader.object(raw, "env");
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && typeof value !== "string") reader.issue(`env.${key}`, "expected a string");
  }
  return env as Record<string, string | undefined>;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

function envProtocol(reader: ConfigReader, env: Readonly<Record<string, string | undefined>>): OtlpProtocol {
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const value = nonEmpty(env[name]);
    if (value === undefined) continue;
    if ((protocols as readonly string[]).includes(value)) return value as OtlpProtocol;
    reader.issue(`env.${name}`, `expected "http/protobuf" or "http/json", got "${value}"`);
    return "http/protobuf";
  }
  return "http/protobuf";
}

function envEndpoint(reader: ConfigReader, env: Readonly<Record<string, string | undefined>>): string {
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (traces !== undefined) return readUrl(reader, traces, "env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (base === undefined) return defaultTraceEndpoint;
  // https://opentelemetry.io/docs/specs/otel/protocol/exporter/#endpoint-urls-for-otlphttp
  const url = readUrl(reader, base, "env.OTEL_EXPORTER_OTLP_ENDPOINT");
  return url.endsWith("/") ? `${url}v1/traces` : `${url}/v1/traces`;
}

function readUrl(reader: ConfigReader, value: unknown, path: string): string {
  if (typeof value !== "string" || !URL.canParse(value)) {
    reader.issue(path, `expected an http:// or https:// URL, got ${JSON.stringify(value)}`);
    return defaultTraceEndpoint;
  }
  const protocol = new URL(value).protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    reader.issue(path, `expected an http:// or https:// URL, got ${JSON.stringify(value)}`);
    return defaultTraceEndpoint;
  }
  return value;
}

function readAttributes(reader: ConfigReader, raw: unknown): Record<string, string | number | boolean> {
  const obj = reader.object(raw, "attributes");
  const attributes: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (typeof value === "string" || typeof value === "boolean" || Number.isFinite(value)) {
      attributes[key] = value as string | number | boolean;
    } else {
      reader.issue(`attributes.${key}`, "expected a string, a finite number or a boolean");
    }
  }
  return attributes;
}

function readHeaders(reader: ConfigReader, raw: unknown): Record<string, string> {
  const obj = reader.object(raw, "headers");
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (typeof value === "string") headers[key] = value;
    else reader.issue(`headers.${key}`, "expected a string");
  }
  return headers;
}

function readInjectB3(reader: ConfigReader, raw: unknown): B3Injection {
  if (raw === undefined) return false;
  if (raw === true || raw === false || raw === "single" || raw === "multi") return raw;
  reader.issue("injectB3", `expected true, false, "single" or "multi", got ${JSON.stringify(raw)}`);
  return false;
}

function readHttp(reader: ConfigReader, raw: unknown): ResolvedTelemetryOptions["http"] {
  if (raw === false) return false;
  const obj = raw === true ? {} : reader.object(raw, "instrumentations.http");
  const path = "instrumentations.http";
  reader.knownKeys(obj, httpKeys, path);
  const incoming = reader.boolean(obj, "incoming", path, true);
  const outgoing = reader.boolean(obj, "outgoing", path, true);
  const ignoreIncoming = reader.fn<(request: IncomingMessage) => boolean>(obj, "ignoreIncoming", path);
  const ignoreOutgoing = reader.fn<(request: RequestOptions) => boolean>(obj, "ignoreOutgoing", path);
  if (!incoming && !outgoing) return false;
  return {
    incoming,
    outgoing,
    ...(ignoreIncoming === undefined ? {} : { ignoreIncoming }),
    ...(ignoreOutgoing === undefined ? {} : { ignoreOutgoing }),
  };
}

function readPg(reader: ConfigReader, raw: unknown): ResolvedTelemetryOptions["pg"] {
  if (raw === false) return false;
  const obj = raw === true ? {} : reader.object(raw, "instrumentations.pg");
  const path = "instrumentations.pg";
  reader.knownKeys(obj, pgKeys, path);
  return {
    requireParentSpan: reader.boolean(obj, "requireParentSpan", path, true),
    connectSpans: reader.boolean(obj, "connectSpans", path, false),
  };
}
