import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { instrumentServer } from "../src/metrics/instrument-server.js";
import { createMetrics, type Metrics } from "../src/metrics/metrics.js";
import { family, histogramSeries, parsePrometheusText, samples, value } from "./support/prometheus-text.js";

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  }
});

const kRoute = Symbol("route");
type Routed = IncomingMessage & { [kRoute]?: string };

/** A tiny service: /metrics, one templated route, and 404 for everything else. */
async function serve(metrics: Metrics): Promise<{ base: string; stop: () => void }> {
  const server = createServer((req: Routed, res) => {
    if (metrics.handle(req, res)) return;
    const match = /^\/orders\/([^/?]+)$/.exec(req.url ?? "");
    if (req.method === "GET" && match) {
      req[kRoute] = "/orders/:id";
      res.writeHead(match[1] === "missing" ? 404 : 200).end("order");
      return;
    }
    res.writeHead(404).end();
  });
  const stop = instrumentServer(server, metrics, {
    route: (req: Routed) => req[kRoute],
    ignore: (req) => req.url === "/metrics",
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop };
}

describe("GET /metrics over real HTTP", () => {
  it("serves a valid exposition with process metrics and timed requests by route template", async () => {
    const metrics = createMetrics({ service: "orders", instanceId: "orders-1", prefix: "orders_" });
    const { base } = await serve(metrics);
    for (const path of ["/orders/1", "/orders/2", "/orders/missing", "/no/such/page?x=1"]) {
      const res = await fetch(base + path);
      await res.arrayBuffer();
    }
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(metrics.contentType);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(await res.text());

    const cpu = family(families, "orders_process_cpu_user_seconds_total");
    expect(cpu.type).toBe("counter");
    expect(family(families, "orders_nodejs_eventloop_lag_seconds").type).toBe("gauge");
    expect(family(families, "orders_nodejs_gc_duration_seconds").type).toBe("histogram");
    for (const fam of families.values()) {
      for (const s of fam.samples)
        expect(s.labels).toMatchObject({ service: "orders", service_instance_id: "orders-1" });
    }

    const server = family(families, "http_server_request_duration_seconds");
    const series = histogramSeries(server);
    const byKey = Object.fromEntries(
      series.map((s) => [
        `${s.labels.http_request_method} ${s.labels.http_route} ${s.labels.http_response_status_code}`,
        s.count,
      ]),
    );
    expect(byKey).toEqual({ "GET /orders/:id 200": 2, "GET /orders/:id 404": 1, "GET unmatched 404": 1 });
    expect(samples(server).length).toBe(0);
    expect(value(server, { http_response_status_code: "200" }, `${server.name}_count`)).toBe(2);
  });

  it("answers HEAD without a body, 405 for other methods, and leaves other paths alone", async () => {
    const metrics = createMetrics({ service: "orders", instanceId: "orders-1", collectDefaults: false });
    const { base, stop } = await serve(metrics);
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await post.arrayBuffer();

    stop();
    await (await fetch(`${base}/orders/1`)).arrayBuffer();
    expect(metrics.httpServer.series).toBe(0);
  });

  it("works as a standalone request listener", async () => {
    const metrics = createMetrics({ service: "orders", instanceId: "orders-1", collectDefaults: false });
    const server = createServer(metrics.handler);
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ok = await fetch(`${base}/metrics?debug=1`);
    expect(ok.status).toBe(200);
    expect(parsePrometheusText(await ok.text()).has("http_server_request_duration_seconds")).toBe(true);
    const missing = await fetch(`${base}/other`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
  });
});
