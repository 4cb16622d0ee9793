// The registry client's own requests are plumbing: in a traced process they record no span and
// carry no trace headers, while the application's calls around them are traced as usual.
import { initTelemetry, type Telemetry } from "@flotilla/observability";
import { afterEach, expect, it } from "vitest";
import { registryClient } from "../src/client/registry-client.js";
import { type Harness, startHarness } from "./registry-server-harness.js";

let telemetry: Telemetry | undefined;
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  await telemetry?.shutdown();
  telemetry = undefined;
  harness = undefined;
});

it("registers, renews, reads and deregisters without a span, inside or outside a traced operation", async () => {
  telemetry = initTelemetry({ serviceName: "client-untraced", exporter: "memory" });
  harness = await startHarness();
  const client = registryClient({ url: harness.url, timeoutMs: 2_000 });
  try {
    const { lease } = await client.register({ service: "s", id: "s-1", address: "127.0.0.1", port: 9000 });
    await client.renew(lease.id);
    await client.instances("s");
    // A traced fetch beside them is recorded, so the memory exporter does see client spans.
    await (await fetch(`${harness.url}/v1/services`)).text();
    await client.deregister("s", "s-1");
  } finally {
    await client.close();
  }
  await telemetry.forceFlush();
  const clients = telemetry
    .finishedSpans()
    .filter((span) => span.instrumentationScope.name.includes("undici"));
  expect(clients).toHaveLength(1);
  expect(clients[0]!.attributes["url.path"]).toBe("/v1/services");
});
