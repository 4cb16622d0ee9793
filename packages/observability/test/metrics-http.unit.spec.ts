import { configIssues as issues } from "@flotilla/resilience/testing";
import { Gauge } from "prom-client";
import { describe, expect, it } from "vitest";
import { httpDurationBuckets, overflowLabel } from "../src/metrics/http-duration-histogram.js";
import { httpMethodLabel } from "../src/metrics/http-method.js";
import { createMetrics } from "../src/metrics/metrics.js";
import { MetricsErrorCode } from "../src/metrics/metrics-error.js";
import { family, histogramSeries, parsePrometheusText, samples } from "./support/prometheus-text.js";

function metricsFor(extra: Record<string, unknown> = {}) {
  return createMetrics({ service: "orders", instanceId: "orders-1", collectDefaults: false, ...extra });
}

describe("HTTP duration histograms", () => {
  it("render as valid histograms named after the OpenTelemetry HTTP conventions", async () => {
    const metrics = metricsFor({ defaultLabels: { region: "eu" } });
    metrics.observeServer("GET", "/orders/:id", 200, 0.003);
    metrics.observeServer("GET", "/orders/:id", 200, 0.2);
    metrics.observeServer("GET", "/orders/:id", 200, 12);
    metrics.observeServer("POST", "/orders", 503, 0.05);
    metrics.observeClient("GET", "inventory", 200, 0.03);

    const families = parsePrometheusText(await metrics.render());
    const server = family(families, "http_server_request_duration_seconds");
    expect(server.type).toBe("histogram");
    expect(server.help).toBe("Duration of HTTP server requests.");
    const series = histogramSeries(server);
    expect(series).toHaveLength(2);
    const get = series.find((s) => s.labels.http_route === "/orders/:id")!;
    expect(get.labels).toEqual({
      http_request_method: "GET",
      http_route: "/orders/:id",
      http_response_status_code: "200",
      service: "orders",
      service_instance_id: "orders-1",
      region: "eu",
    });
    expect(get.count).toBe(3);
    expect(get.sum).toBeCloseTo(12.203, 6);
    expect(get.buckets.map((b) => b.le)).toEqual([...httpDurationBuckets, Number.POSITIVE_INFINITY]);
    expect(get.buckets.find((b) => b.le === 0.005)!.count).toBe(1);
    expect(get.buckets.find((b) => b.le === 0.25)!.count).toBe(2);
    expect(get.buckets.find((b) => b.le === 10)!.count).toBe(2);

    const [client] = histogramSeries(family(families, "http_client_request_duration_seconds"));
    expect(client!.labels).toMatchObject({
      http_request_method: "GET",
      server: "inventory",
      http_response_status_code: "200",
    });
  });

  it("bounds methods, routes and statuses: _OTHER, unmatched, and no status when none was sent", async () => {
    const metrics = metricsFor();
    metrics.observeServer("BREW", undefined, 404, 0.001);
    metrics.observeServer("get", "", 404, 0.001);
    metrics.observeServer("GET", "/a", undefined, 0.001);
    metrics.observeClient("PURGE", undefined, Number.NaN, 0.001);
    const families = parsePrometheusText(await metrics.render());
    const server = family(families, "http_server_request_duration_seconds");
    const other = samples(server, { http_request_method: "_OTHER" }, `${server.name}_count`);
    expect(other).toHaveLength(1);
    expect(other[0]!.labels.http_route).toBe("unmatched");
    expect(other[0]!.value).toBe(2);
    expect(
      samples(server, { http_route: "/a" }, `${server.name}_count`)[0]!.labels.http_response_status_code,
    ).toBe("");
    const client = family(families, "http_client_request_duration_seconds");
    expect(samples(client, {}, `${client.name}_count`)[0]!.labels).toMatchObject({
      http_request_method: "_OTHER",
      server: "unknown",
      http_response_status_code: "",
    });
    expect(
      ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"].map(httpMethodLabel),
    ).toEqual(["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]);
  });

  it("renders a NaN value as NaN, not prom-client's Nan (the event loop lag before its first sample)", async () => {
    const metrics = createMetrics({ service: "orders", instanceId: "orders-1", collectDefaults: false });
    new Gauge({ name: "unknown_ratio", help: "a value not known yet", registers: [metrics.registry] }).set(
      Number.NaN,
    );
    const text = await metrics.render();
    expect(text).not.toMatch(/ Nan$/m);
    const unknown = samples(family(parsePrometheusText(text), "unknown_ratio"));
    expect(unknown.map((s) => s.value)).toEqual([Number.NaN]);
  });

  it("reuses one pre-bound child per label set", () => {
    const metrics = metricsFor();
    const first = metrics.httpServer.child("GET", "/orders/:id", 200);
    expect(metrics.httpServer.child("GET", "/orders/:id", 200)).toBe(first);
    expect(metrics.httpServer.child("GET", "/orders/:id", 201)).not.toBe(first);
    expect(metrics.httpServer.series).toBe(2);
  });

  it("caps the label sets of each histogram and counts the rest in one overflow series", async () => {
    const metrics = metricsFor({ cardinalityLimit: 3 });
    const warned = new Promise<Error & { code?: string }>((resolve) => process.once("warning", resolve));
    for (let i = 0; i < 10; i++) metrics.observeServer("GET", `/raw/path/${i}`, 200, 0.01);
    metrics.observeServer("GET", "/raw/path/0", 200, 0.01);
    expect((await warned).code).toBe(MetricsErrorCode.CardinalityLimit);
    expect(metrics.httpServer.series).toBe(3);
    expect(metrics.httpServer.overflowed).toBe(true);

    const series = histogramSeries(
      family(parsePrometheusText(await metrics.render()), "http_server_request_duration_seconds"),
    );
    expect(series).toHaveLength(4);
    const overflow = series.find((s) => s.labels.http_route === overflowLabel)!;
    expect(overflow.labels).toMatchObject({
      http_request_method: overflowLabel,
      http_response_status_code: overflowLabel,
    });
    expect(overflow.count).toBe(7);
    expect(series.find((s) => s.labels.http_route === "/raw/path/0")!.count).toBe(2);
    // The client histogram has a cap of its own.
    metrics.observeClient("GET", "inventory", 200, 0.01);
    expect(metrics.httpClient.series).toBe(1);
  });

  it("uses custom buckets", async () => {
    const metrics = metricsFor({ buckets: [0.1, 1] });
    metrics.observeServer("GET", "/", 200, 0.5);
    const [series] = histogramSeries(
      family(parsePrometheusText(await metrics.render()), "http_server_request_duration_seconds"),
    );
    expect(series!.buckets.map((b) => [b.le, b.count])).toEqual([
      [0.1, 0],
      [1, 1],
      [Number.POSITIVE_INFINITY, 1],
    ]);
  });

  it("rejects bad options with their paths", () => {
    expect(
      issues(() =>
        createMetrics({
          service: "",
          defaultLabels: { "bad-name": "x", service: "y", ok: 3 as unknown as string },
          prefix: "1x",
          path: "metrics",
          buckets: [0.1, 0.1, -1],
          cardinalityLimit: 0,
          colour: "red",
        } as never),
      ),
    ).toEqual([
      "colour: unknown option; expected one of service, instanceId, defaultLabels, collectDefaults, prefix, path, buckets, cardinalityLimit",
      "instanceId: is required",
      'service: expected a non-empty string, got ""',
      "defaultLabels.bad-name: is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
      "defaultLabels.service: is a label this package sets itself",
      "defaultLabels.ok: expected a string, got number",
      'prefix: "1x" is not a valid start of a Prometheus metric name',
      'path: must start with "/", got "metrics"',
      "buckets[1]: expected a finite number greater than 0.1, got 0.1",
      "buckets[2]: expected a finite number greater than 0.1, got -1",
      "cardinalityLimit: must be at least 1, got 0",
    ]);
  });
});
