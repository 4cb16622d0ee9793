import { afterEach, describe, expect, it } from "vitest";
import { activeTelemetry } from "../src/tracing/telemetry.js";
import { type FakeCollector, fakeCollector } from "./tracing-support.js";

const variables = {
  OTEL_SERVICE_NAME: "registered",
  OTEL_RESOURCE_ATTRIBUTES: "service.version=9.9.9",
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
  OTEL_PROPAGATORS: "tracecontext,baggage,b3",
};
const saved = new Map<string, string | undefined>();
let collector: FakeCollector | undefined;

afterEach(async () => {
  await activeTelemetry()?.shutdown();
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
  await collector?.server.close();
});

function setEnv(name: string, value: string): void {
  if (!saved.has(name)) saved.set(name, process.env[name]);
  process.env[name] = value;
}

describe("@flotilla/observability/register", () => {
  it("starts telemetry from the OpenTelemetry environment variables when imported", async () => {
    collector = await fakeCollector();
    for (const [name, value] of Object.entries(variables)) setEnv(name, value);
    setEnv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.server.url);
    expect(activeTelemetry()).toBeUndefined();

    await import("../src/tracing/register.js");

    const telemetry = activeTelemetry();
    expect(telemetry?.options).toMatchObject({
      serviceName: "registered",
      serviceVersion: "9.9.9",
      exporter: "otlp",
      protocol: "http/json",
      endpoint: `${collector.server.url}/v1/traces`,
      injectB3: "single",
    });
    telemetry!.tracer.startSpan("from-preload").end();
    await telemetry!.forceFlush();
    expect(collector.received).toHaveLength(1);
    expect(collector.received[0]!.contentType).toBe("application/json");
    expect(collector.received[0]!.body.toString("utf8")).toContain("from-preload");
    expect(process.listenerCount("beforeExit")).toBeGreaterThanOrEqual(1);
  });
});
