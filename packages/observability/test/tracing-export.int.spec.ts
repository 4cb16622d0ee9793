import { afterEach, describe, expect, it } from "vitest";
import { isNotMemoryExporterError } from "../src/errors.js";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import { type FakeCollector, fakeCollector, type TestServer } from "./tracing-support.js";

let telemetry: Telemetry | undefined;
let collector: TestServer | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  await collector?.close();
  collector = undefined;
});

async function startCollector(): Promise<FakeCollector> {
  const started = await fakeCollector();
  collector = started.server;
  return started;
}

function startOtlp(endpoint: string, protocol: "http/protobuf" | "http/json"): Telemetry {
  telemetry = initTelemetry({
    serviceName: "export-test",
    serviceVersion: "2.3.4",
    exporter: "otlp",
    protocol,
    endpoint,
    attributes: { "deployment.environment.name": "test" },
  });
  return telemetry;
}

describe("OTLP/HTTP export", () => {
  it("sends protobuf to the endpoint by default", async () => {
    const { server, received } = await startCollector();
    const t = startOtlp(`${server.url}/v1/traces`, "http/protobuf");
    t.tracer.startSpan("protobuf-span").end();
    await t.forceFlush();

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe("POST");
    expect(request!.path).toBe("/v1/traces");
    expect(request!.contentType).toBe("application/x-protobuf");
    expect(request!.body.length).toBeGreaterThan(0);
    // Protobuf keeps strings as UTF-8 bytes, so the span and service names are in the body.
    expect(request!.body.includes("protobuf-span")).toBe(true);
    expect(request!.body.includes("export-test")).toBe(true);
  });

  it("sends JSON when asked, with the resource attributes", async () => {
    const { server, received } = await startCollector();
    const t = startOtlp(`${server.url}/v1/traces`, "http/json");
    t.tracer.startSpan("json-span").end();
    await t.forceFlush();

    expect(received).toHaveLength(1);
    expect(received[0]!.contentType).toBe("application/json");
    const body = JSON.parse(received[0]!.body.toString("utf8")) as {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: { name: string }[] }[];
      }[];
    };
    const resource = Object.fromEntries(
      body.resourceSpans[0]!.resource.attributes.map((a) => [a.key, a.value.stringValue]),
    );
    expect(resource).toMatchObject({
      "service.name": "export-test",
      "service.version": "2.3.4",
      "deployment.environment.name": "test",
    });
    expect(resource["service.instance.id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.name)).toEqual(["json-span"]);
  });

  it("sends spans that end before shutdown on shutdown", async () => {
    const { server, received } = await startCollector();
    const t = startOtlp(`${server.url}/v1/traces`, "http/protobuf");
    t.tracer.startSpan("last-words").end();
    await t.shutdown();
    expect(received).toHaveLength(1);
    expect(received[0]!.body.includes("last-words")).toBe(true);
  });

  it("batches: spans that end together leave in one request", async () => {
    const { server, received } = await startCollector();
    const t = startOtlp(`${server.url}/v1/traces`, "http/json");
    for (let i = 0; i < 20; i++) t.tracer.startSpan(`span-${i}`).end();
    await t.forceFlush();
    expect(received).toHaveLength(1);
    const body = JSON.parse(received[0]!.body.toString("utf8")) as {
      resourceSpans: { scopeSpans: { spans: unknown[] }[] }[];
    };
    expect(body.resourceSpans[0]!.scopeSpans[0]!.spans).toHaveLength(20);
  });

  it("does not trace the OTLP intake of a collector in the same process", async () => {
    const fake = await startCollector();
    const t = startOtlp(`${fake.server.url}/v1/traces`, "http/json");
    t.tracer.startSpan("only").end();
    await t.forceFlush();
    for (let turn = 0; turn < 1000 && fake.responsesClosed() < 1; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(fake.responsesClosed()).toBe(1);
    // Had the intake request been traced, its server span would leave in this flush.
    await t.forceFlush();
    expect(fake.received).toHaveLength(1);
  });

  it("does not keep finished spans: finishedSpans() is for the memory exporter only", async () => {
    const { server } = await startCollector();
    const t = startOtlp(`${server.url}/v1/traces`, "http/protobuf");
    let error: unknown;
    try {
      t.finishedSpans();
    } catch (e) {
      error = e;
    }
    expect(isNotMemoryExporterError(error)).toBe(true);
    expect((error as { code: string }).code).toBe("FLT_OBS_NOT_MEMORY_EXPORTER");
  });
});
