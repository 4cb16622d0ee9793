import { hasSubscribers } from "node:diagnostics_channel";
import http, { Server } from "node:http";
import { context, propagation, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { isTelemetryActiveError, isTraceExportError, type TraceExportError } from "../src/errors.js";
import { activeTelemetry, initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";
import { fakeCollector, type TestServer } from "./tracing-support.js";

let telemetry: Telemetry | undefined;
let collector: TestServer | undefined;

afterEach(async () => {
  await telemetry?.shutdown().catch(() => undefined);
  telemetry = undefined;
  await collector?.close();
  collector = undefined;
});

/** Active handles other than the test runner's own IPC pipe and stdio. */
function resources(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r !== "PipeWrap" && r !== "TTYWrap")
    .sort();
}

/** The entries of `now` beyond those of `before`, counting duplicates. */
function surplus(before: readonly string[], now: readonly string[]): string[] {
  const left = [...before];
  return now.filter((r) => {
    const i = left.indexOf(r);
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

async function connections(server: TestServer): Promise<number> {
  return new Promise((resolve, reject) =>
    server.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

describe("shutdown", () => {
  it("leaves no open handles: nothing beyond the baseline, the exporter's keep-alive socket closed", async () => {
    const started = await fakeCollector();
    collector = started.server;
    const before = resources();
    telemetry = initTelemetry({
      serviceName: "handles",
      exporter: "otlp",
      endpoint: `${started.server.url}/v1/traces`,
      instrumentations: { http: false },
    });
    telemetry.tracer.startSpan("one").end();
    await telemetry.forceFlush();
    expect(started.received).toHaveLength(1);
    expect(await connections(started.server)).toBe(1);

    await telemetry.shutdown();
    // Nothing beyond the baseline may remain; the runner's own handles may come and go.
    let extra = surplus(before, resources());
    for (let turn = 0; turn < 1000 && extra.length > 0; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      extra = surplus(before, resources());
    }
    expect(extra).toEqual([]);
    expect(await connections(started.server)).toBe(0);
  });

  it("unpatches node:http and unsubscribes from undici's channels", async () => {
    const originalRequest = http.request;
    const originalEmit = Server.prototype.emit;
    telemetry = initTelemetry({ serviceName: "unpatch", exporter: "memory" });
    expect(http.request).not.toBe(originalRequest);
    expect(Server.prototype.emit).not.toBe(originalEmit);
    expect(hasSubscribers("undici:request:create")).toBe(true);

    await telemetry.shutdown();
    expect(http.request).toBe(originalRequest);
    expect(Server.prototype.emit).toBe(originalEmit);
    expect(hasSubscribers("undici:request:create")).toBe(false);
  });

  it("is idempotent and releases the registrations so telemetry can start again", async () => {
    const first = initTelemetry({ serviceName: "first", exporter: "memory" });
    expect(activeTelemetry()).toBe(first);
    const shutdown = first.shutdown();
    expect(first.shutdown()).toBe(shutdown);
    await shutdown;
    await first.shutdown();
    expect(first.isShutdown).toBe(true);
    expect(activeTelemetry()).toBeUndefined();

    telemetry = initTelemetry({ serviceName: "second", exporter: "memory" });
    telemetry.tracer.startSpan("after-restart").end();
    expect(telemetry.finishedSpans().map((s) => s.resource.attributes["service.name"])).toEqual(["second"]);
  });

  it("refuses a second live telemetry with FLT_OBS_TELEMETRY_ACTIVE and leaves the first intact", async () => {
    telemetry = initTelemetry({ serviceName: "first", exporter: "memory" });
    let error: unknown;
    try {
      initTelemetry({ serviceName: "second", exporter: "memory" });
    } catch (e) {
      error = e;
    }
    expect(isTelemetryActiveError(error)).toBe(true);
    telemetry.tracer.startActiveSpan("still-works", (span) => {
      expect(trace.getSpanContext(context.active())?.spanId).toBe(span.spanContext().spanId);
      span.end();
    });
    expect(telemetry.finishedSpans().map((s) => s.name)).toEqual(["still-works"]);
  });

  it("refuses to start over another OpenTelemetry SDK's registrations and rolls back its own", async () => {
    const { W3CTraceContextPropagator } = await import("@opentelemetry/core");
    expect(propagation.setGlobalPropagator(new W3CTraceContextPropagator())).toBe(true);
    try {
      let error: unknown;
      try {
        initTelemetry({ serviceName: "late", exporter: "memory" });
      } catch (e) {
        error = e;
      }
      expect(isTelemetryActiveError(error)).toBe(true);
      expect((error as { registration: string }).registration).toBe("propagation");
      expect(activeTelemetry()).toBeUndefined();
    } finally {
      propagation.disable();
    }
    // The rolled-back context manager registration is free again.
    telemetry = initTelemetry({ serviceName: "after-rollback", exporter: "memory" });
    expect(activeTelemetry()).toBe(telemetry);
  });

  it("with the collector down: settles, reports the loss with a code, and releases everything", async () => {
    const started = await fakeCollector();
    const url = `${started.server.url}/v1/traces`;
    await started.server.close();
    telemetry = initTelemetry({
      serviceName: "down",
      exporter: "otlp",
      endpoint: url,
      instrumentations: { http: false },
      batch: { exportTimeout: "2s" },
    });
    telemetry.tracer.startSpan("lost").end();
    const error = await telemetry.shutdown().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTraceExportError(error)).toBe(true);
    expect((error as TraceExportError).endpoint).toBe(url);
    expect((error as Error).message).toContain("ECONNREFUSED");
    expect(activeTelemetry()).toBeUndefined();
    telemetry = initTelemetry({ serviceName: "after-failure", exporter: "memory" });
  });
});
