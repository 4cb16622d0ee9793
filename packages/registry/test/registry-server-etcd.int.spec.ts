import { randomBytes } from "node:crypto";
import { createMetrics } from "@flotilla/observability";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RegistryServer, registryServer } from "../src/server/registry-server.js";
import { type EtcdStore, etcdStore } from "../src/store/etcd-store.js";
import { type EtcdServer, startEtcd } from "../src/testing/etcd-server.js";
import { call, capturingLogger, registration } from "./registry-server-harness.js";

let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

const running: { server: RegistryServer; store: EtcdStore }[] = [];
afterEach(async () => {
  for (const { server, store } of running.splice(0)) {
    await server.close();
    await store.close();
  }
});

/** Two registry servers on one etcd key prefix: an HA pair. */
async function pair(): Promise<[string, string]> {
  const prefix = `flotilla-registry-test-${randomBytes(6).toString("hex")}/`;
  const urls: string[] = [];
  for (const name of ["a", "b"]) {
    const store = etcdStore({ endpoints: [etcd.endpoint], prefix });
    const server = registryServer({
      store,
      logger: capturingLogger([]),
      metrics: createMetrics({ service: "registry-test", instanceId: name, collectDefaults: false }),
    });
    running.push({ server, store });
    const { port } = await server.listen(0);
    urls.push(`http://127.0.0.1:${port}`);
  }
  return [urls[0]!, urls[1]!];
}

describe("registry servers sharing etcd", () => {
  it("serves one registry from either server", async () => {
    const [a, b] = await pair();
    const before = (await call(b, "GET", "/v1/services/orders")).index!;
    const waiting = call(b, "GET", `/v1/services/orders?index=${before}&wait=30s`);
    const reg = await call(a, "POST", "/v1/instances", registration("orders", "o-1", { ttlMs: "30s" }));
    expect(reg.status).toBe(200);
    const seen = await waiting;
    expect(seen.json.instances.map((i: { id: string }) => i.id)).toEqual(["o-1"]);
    expect((await call(b, "PUT", `/v1/leases/${reg.json.lease.id}/renew`)).json.ttlMs).toBeGreaterThanOrEqual(
      30_000,
    );
    expect((await call(b, "PUT", "/v1/kv/shared?cas=0", "1")).status).toBe(200);
    expect((await call(a, "PUT", "/v1/kv/shared?cas=0", "2")).status).toBe(409);
    expect((await call(b, "DELETE", "/v1/instances/orders/o-1")).status).toBe(200);
    expect((await call(a, "PUT", `/v1/leases/${reg.json.lease.id}/renew`)).status).toBe(404);
    const after = await call(a, "GET", "/v1/services/orders");
    expect(after.json.instances).toEqual([]);
    expect((await call(a, "GET", "/health")).json).toMatchObject({ status: "pass", store: "etcd" });
  });

  it("marks a lapsed lease critical, then removes it, with both servers watching", async () => {
    const [a, b] = await pair();
    await call(
      a,
      "POST",
      "/v1/instances",
      registration("l", "l-1", {
        ttlMs: "1s",
        checks: [{ type: "ttl", deregisterCriticalAfterMs: "500ms" }],
      }),
    );
    let index = 0;
    let statuses: string[] = [];
    for (let round = 0; round < 50; round++) {
      const reply = await call(b, "GET", `/v1/services/l?status=any&index=${index}&wait=10s`);
      statuses.push(...reply.json.instances.map((i: { status: string }) => i.status));
      if (reply.json.instances.length === 0 && statuses.includes("critical")) break;
      index = reply.index!;
    }
    statuses = [...new Set(statuses)];
    expect(statuses).toEqual(["passing", "critical"]);
    expect((await call(a, "GET", "/v1/services/l?status=any")).json.instances).toEqual([]);
  });
});
