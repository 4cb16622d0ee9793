import { configIssues as issues } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import { telemetryOptionsFromEnv } from "../src/tracing/telemetry-env.js";
import { defaultTraceEndpoint, parseTelemetryOptions } from "../src/tracing/telemetry-options.js";

const env = {};

describe("parseTelemetryOptions", () => {
  it("applies the defaults", () => {
    const o = parseTelemetryOptions({ serviceName: "orders", env });
    expect(o).toMatchObject({
      serviceName: "orders",
      serviceVersion: "0.0.0",
      attributes: {},
      sampleRatio: 1,
      exporter: "otlp",
      protocol: "http/protobuf",
      endpoint: "http://127.0.0.1:4318/v1/traces",
      headers: {},
      batch: { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 1000, exportTimeoutMs: 10_000 },
      injectB3: false,
      http: { incoming: true, outgoing: true },
      undici: true,
      pg: { requireParentSpan: true, connectSpans: false },
    });
    expect(defaultTraceEndpoint).toBe("http://127.0.0.1:4318/v1/traces");
    expect(o.instanceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseTelemetryOptions({ serviceName: "orders", env }).instanceId).not.toBe(o.instanceId);
  });

  it("takes every option as given", () => {
    const ignoreIncoming = () => true;
    const o = parseTelemetryOptions({
      serviceName: "orders",
      serviceVersion: "1.2.3",
      instanceId: "orders-7",
      attributes: { "deployment.environment.name": "prod", "service.namespace": "shop", replicas: 3 },
      sampleRatio: 0.25,
      exporter: "memory",
      protocol: "http/json",
      endpoint: "https://collector.internal:4318/v1/traces",
      headers: { "x-api-key": "k" },
      batch: { maxQueueSize: 100, maxExportBatchSize: 10, scheduledDelay: "250ms", exportTimeout: "3s" },
      injectB3: "single",
      instrumentations: { http: { outgoing: false, ignoreIncoming }, undici: false, pg: false },
      env,
    });
    expect(o).toMatchObject({
      serviceVersion: "1.2.3",
      instanceId: "orders-7",
      attributes: { "deployment.environment.name": "prod", "service.namespace": "shop", replicas: 3 },
      sampleRatio: 0.25,
      exporter: "memory",
      protocol: "http/json",
      endpoint: "https://collector.internal:4318/v1/traces",
      headers: { "x-api-key": "k" },
      batch: { maxQueueSize: 100, maxExportBatchSize: 10, scheduledDelayMs: 250, exportTimeoutMs: 3000 },
      injectB3: "single",
      http: { incoming: true, outgoing: false, ignoreIncoming },
      undici: false,
      pg: false,
    });
  });

  it("turns http off when both directions are off", () => {
    const o = parseTelemetryOptions({
      serviceName: "s",
      instrumentations: { http: { incoming: false, outgoing: false } },
      env,
    });
    expect(o.http).toBe(false);
  });

  it("reads the endpoint from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is", () => {
    const o = parseTelemetryOptions({
      serviceName: "s",
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:9999/custom",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318",
      },
    });
    expect(o.endpoint).toBe("http://traces:9999/custom");
  });

  it.each([
    ["http://otel:4318", "http://otel:4318/v1/traces"],
    ["http://otel:4318/", "http://otel:4318/v1/traces"],
    ["https://gw.example/otlp", "https://gw.example/otlp/v1/traces"],
  ])("appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT %s", (base, expected) => {
    expect(
      parseTelemetryOptions({ serviceName: "s", env: { OTEL_EXPORTER_OTLP_ENDPOINT: base } }).endpoint,
    ).toBe(expected);
  });

  it("prefers the endpoint option to the environment", () => {
    const o = parseTelemetryOptions({
      serviceName: "s",
      endpoint: "http://explicit:4318/v1/traces",
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://env:4318/v1/traces" },
    });
    expect(o.endpoint).toBe("http://explicit:4318/v1/traces");
  });

  it("reads the protocol from the environment, traces-specific first", () => {
    expect(
      parseTelemetryOptions({
        serviceName: "s",
        env: {
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        },
      }).protocol,
    ).toBe("http/json");
    expect(
      parseTelemetryOptions({ serviceName: "s", env: { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" } }).protocol,
    ).toBe("http/json");
  });

  it("lists every problem with its path", () => {
    expect(
      issues(() =>
        parseTelemetryOptions({
          serviceVersion: "",
          sampleRatio: 1.5,
          exporter: "zipkin",
          protocol: "grpc",
          endpoint: "ftp://collector",
          attributes: { nested: { a: 1 } },
          headers: { "x-n": 1 },
          batch: { maxQueueSize: 10, maxExportBatchSize: 20, scheduledDelay: "soon", exportTimeout: 0 },
          injectB3: "both",
          instrumentations: { http: { incoming: "yes" }, mysql: true, pg: { connectSpans: 1 } },
          samplingRatio: 1,
          env,
        }),
      ),
    ).toEqual([
      "samplingRatio: unknown option; expected one of serviceName, serviceVersion, instanceId, attributes, sampleRatio, exporter, protocol, endpoint, headers, batch, injectB3, instrumentations, env",
      "serviceName: required: the service's logical name",
      'serviceVersion: expected a non-empty string, got ""',
      "attributes.nested: expected a string, a finite number or a boolean",
      "sampleRatio: must be at most 1, got 1.5",
      'exporter: expected one of "otlp", "memory", "none", got "zipkin"',
      'protocol: expected one of "http/protobuf", "http/json", got "grpc"',
      'endpoint: expected an http:// or https:// URL, got "ftp://collector"',
      "headers.x-n: expected a string",
      "batch.maxExportBatchSize: must be at most maxQueueSize (10), got 20",
      'batch.scheduledDelay: expected a duration such as "250ms", "5s", "1m30s" or milliseconds, got "soon"',
      "batch.exportTimeout: must be longer than 0 ms, got 0 ms",
      'injectB3: expected true, false, "single" or "multi", got "both"',
      "instrumentations.mysql: unknown option; expected one of http, undici, pg",
      'instrumentations.http.incoming: expected true or false, got "yes"',
      "instrumentations.pg.connectSpans: expected true or false, got number 1",
    ]);
  });

  it("names the environment variable that holds a bad value", () => {
    expect(
      issues(() =>
        parseTelemetryOptions({
          serviceName: "s",
          env: {
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url",
          },
        }),
      ),
    ).toEqual([
      'env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: expected "http/protobuf" or "http/json", got "grpc"',
      'env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http:// or https:// URL, got "not a url"',
    ]);
  });
});

describe("telemetryOptionsFromEnv", () => {
  it("returns undefined when the SDK is disabled", () => {
    expect(telemetryOptionsFromEnv({ OTEL_SDK_DISABLED: "true", OTEL_SERVICE_NAME: "s" })).toBeUndefined();
  });

  it("falls back to unknown_service:node", () => {
    expect(telemetryOptionsFromEnv({})).toMatchObject({
      serviceName: "unknown_service:node",
      exporter: "otlp",
    });
  });

  it("reads the service, resource, sampler, exporter and propagators", () => {
    const environment = {
      OTEL_SERVICE_NAME: "orders",
      OTEL_RESOURCE_ATTRIBUTES:
        "service.name=ignored,service.version=1.4.0,service.instance.id=orders-2,deployment.environment.name=prod%20eu",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.1",
      OTEL_TRACES_EXPORTER: "none",
      OTEL_PROPAGATORS: "tracecontext,baggage,b3multi",
    };
    const options = telemetryOptionsFromEnv(environment);
    expect(options).toEqual({
      serviceName: "orders",
      serviceVersion: "1.4.0",
      instanceId: "orders-2",
      attributes: { "deployment.environment.name": "prod eu" },
      sampleRatio: 0.1,
      exporter: "none",
      injectB3: "multi",
      env: environment,
    });
    expect(parseTelemetryOptions(options).sampleRatio).toBe(0.1);
  });

  it.each([
    ["always_on", undefined, 1],
    ["parentbased_always_off", undefined, 0],
    ["traceidratio", "0.5", 0.5],
    ["traceidratio", undefined, 1],
  ])("maps sampler %s (arg %s) to ratio %s", (sampler, arg, ratio) => {
    const environment: Record<string, string> = { OTEL_TRACES_SAMPLER: sampler };
    if (arg !== undefined) environment.OTEL_TRACES_SAMPLER_ARG = arg;
    expect(telemetryOptionsFromEnv(environment)?.sampleRatio).toBe(ratio);
  });

  it("takes service.name from the resource attributes without OTEL_SERVICE_NAME", () => {
    expect(telemetryOptionsFromEnv({ OTEL_RESOURCE_ATTRIBUTES: "service.name=billing" })?.serviceName).toBe(
      "billing",
    );
  });

  it("names each bad variable", () => {
    expect(
      issues(() =>
        telemetryOptionsFromEnv({
          OTEL_RESOURCE_ATTRIBUTES: "novalue,bad=%E0%A4%A",
          OTEL_TRACES_SAMPLER: "traceidratio",
          OTEL_TRACES_SAMPLER_ARG: "ten percent",
          OTEL_TRACES_EXPORTER: "console",
          OTEL_PROPAGATORS: "tracecontext,jaeger",
        }),
      ),
    ).toEqual([
      'env.OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs, got "novalue"',
      'env.OTEL_RESOURCE_ATTRIBUTES: bad percent-encoding in the value of "bad"',
      'env.OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got "ten percent"',
      'env.OTEL_TRACES_EXPORTER: expected "otlp" or "none", got "console"',
      'env.OTEL_PROPAGATORS: expected tracecontext, baggage, b3 or b3multi (W3C is always on), got "jaeger"',
    ]);
  });
});
