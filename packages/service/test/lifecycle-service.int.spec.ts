import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Agent, request } from "undici";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defineContract } from "../src/contract/define-contract.js";
import { serviceDatabaseName } from "../src/database/service-database-name.js";
import { type RunningService, startService } from "../src/lifecycle/start-service.js";
import { defineService } from "../src/server/define-service.js";
import { inventory, type LogLine, testLogger, testMetrics } from "./fixtures/inventory-service.js";
import { startTestRegistry, type TestRegistry, until } from "./fixtures/test-registry.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function registry(): Promise<TestRegistry> {
  const r = await startTestRegistry();
  cleanups.push(() => r.stop());
  return r;
}

function agent(): Agent {
  const a = new Agent({ keepAliveTimeout: 1_000 });
  cleanups.push(() => a.close());
  return a;
}

/** A gate the slow handler waits at; `entered` resolves once a request is inside. */
function gate() {
  let open!: () => void;
  let entered!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  return { open, entered, opened, inside };
}

function slowInventory(g: ReturnType<typeof gate>, aborted: { value: boolean }) {
  return defineService({
    contract: inventory,
    handlers: {
      async reserve({ params, body }, ctx) {
        ctx.signal.addEventListener("abort", () => {
          aborted.value = true;
        });
        g.entered();
        await g.opened;
        return { reservationId: `r-${params.sku}`, quantity: body.quantity };
      },
      stock: async () => [],
      release: async () => undefined,
      adjust: async ({ params }) => ({ sku: params.sku, available: 0 }),
    },
  });
}

async function start(service: Parameters<typeof startService>[0], config: object, lines: LogLine[] = []) {
  const running = await startService(service, {
    config: { telemetry: { enabled: false }, ...config },
    logger: testLogger(lines, service.name).logger,
    metrics: testMetrics(service.name),
  });
  cleanups.push(async () => {
    await running.stop();
  });
  return running;
}

const reserveRequest = (running: RunningService, dispatcher: Agent) =>
  request(`${running.url}/reservations/ABC-1`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ quantity: 2 }),
    dispatcher,
  });

describe("startService with a registry", () => {
  it("registers the instance with the contract's version and a readiness check, and serves", async () => {
    const r = await registry();
    const g = gate();
    g.open();
    const running = await start(slowInventory(g, { value: false }), {
      registry: { url: r.url, checkInterval: "100ms", ttl: "3s" },
      tags: ["blue"],
    });
    expect(running.registration?.state).toBe("registered");
    const { instances } = await r.client.instances("inventory", { status: "any" });
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({
      id: running.instanceId,
      address: "127.0.0.1",
      port: running.port,
      version: "1.2.0",
      tags: ["blue"],
    });
    await until(
      async () => (await r.client.instances("inventory")).instances.length === 1,
      5_000,
      "the readiness check to pass",
    );
    const passing = (await r.client.instances("inventory")).instances[0]!;
    expect(passing.checks.map((c) => [c.type, c.kind, c.status])).toContainEqual([
      "http",
      "readiness",
      "passing",
    ]);
    const res = await reserveRequest(running, agent());
    expect(res.statusCode).toBe(201);
    expect(await res.body.json()).toEqual({ reservationId: "r-ABC-1", quantity: 2 });
  });

  it("stops in order: readiness 503 → deregister → stop accepting → drain the request in flight → closed", async () => {
    const r = await registry();
    const g = gate();
    const aborted = { value: false };
    const lines: LogLine[] = [];
    const running = await start(
      slowInventory(g, aborted),
      {
        registry: { url: r.url, checkInterval: "100ms" },
        shutdown: { linger: "300ms", drainTimeout: "10s" },
      },
      lines,
    );
    const dispatcher = agent();
    const inFlight = reserveRequest(running, dispatcher);
    let answered = false;
    void inFlight.then(() => {
      answered = true;
    });
    await g.inside;

    const stopped = running.stop();
    const ready = await request(`${running.url}/health/ready`, { dispatcher: agent() });
    expect(ready.statusCode).toBe(503);
    expect(await ready.body.json()).toMatchObject({ status: "draining" });
    await until(
      async () => (await r.client.instances("inventory", { status: "any" })).instances.length === 0,
      5_000,
      "deregistration",
    );
    await until(() => !running.server.accepting, 5_000, "the server to stop accepting");
    const late = await request(`${running.url}/reservations/ABC-2`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ quantity: 1 }),
      dispatcher: agent(),
    }).then(
      (res) => res.statusCode,
      (error: { code?: string }) => error.code,
    );
    expect([503, "ECONNREFUSED"]).toContain(late);
    expect(answered).toBe(false);

    g.open();
    const res = await inFlight;
    expect(res.statusCode).toBe(201);
    expect(await res.body.json()).toEqual({ reservationId: "r-ABC-1", quantity: 2 });
    expect(await stopped).toEqual({ drained: true });
    expect(aborted.value).toBe(false);
    const messages = lines.map((l) => l.msg);
    expect(messages.indexOf("stopping: readiness 503, deregistering")).toBeLessThan(
      messages.indexOf("service stopped"),
    );
    await expect(request(`${running.url}/health/live`, { dispatcher: agent() })).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });

  it("cuts a request that outlives the drain timeout, aborting its signal", async () => {
    const r = await registry();
    const g = gate();
    const aborted = { value: false };
    const running = await start(slowInventory(g, aborted), {
      registry: { url: r.url },
      shutdown: { linger: 0, drainTimeout: "200ms" },
    });
    const inFlight = reserveRequest(running, agent()).then(
      (res) => res.statusCode,
      (error: { code?: string }) => error.code ?? "error",
    );
    await g.inside;
    expect(await running.stop()).toEqual({ drained: false });
    expect(aborted.value).toBe(true);
    expect(await inFlight).not.toBe(201);
    g.open();
  });

  it("is ready only while a required dependency has an instance, following the registry both ways", async () => {
    const r = await registry();
    const orders = defineService({
      contract: defineContract({ name: "orders-ready", version: "1.0.0", routes: {} }),
      dependencies: { inventory },
      handlers: {},
    });
    const caller = await start(orders, {
      registry: { url: r.url, checkInterval: "100ms", ttl: "3s" },
      dependencies: { inventory: { required: true } },
    });
    const dispatcher = agent();
    const readiness = async () =>
      (await request(`${caller.url}/health/ready`, { dispatcher }).then(async (res) => {
        await res.body.dump();
        return res.statusCode;
      })) as number;
    expect(await readiness()).toBe(503);
    const g = gate();
    g.open();
    const callee = await start(slowInventory(g, { value: false }), {
      registry: { url: r.url, checkInterval: "100ms", ttl: "3s" },
    });
    await until(
      async () => (await readiness()) === 200,
      10_000,
      "orders to become ready once inventory is up",
    );
    await callee.stop();
    await until(
      async () => (await readiness()) === 503,
      10_000,
      "orders to become unready once inventory is gone",
    );
  });

  it("starts without a registry when none is configured", async () => {
    const g = gate();
    g.open();
    const running = await start(slowInventory(g, { value: false }), {});
    expect(running.registration).toBeUndefined();
    expect((await reserveRequest(running, agent())).statusCode).toBe(201);
    expect(await running.stop()).toEqual({ drained: true });
  });
});

describe("startService with a database", () => {
  const admin = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres", max: 2 });
  afterAll(() => admin.end());

  async function migrations(sql: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-service-migrations-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "0001_reservations.sql"), sql);
    return dir;
  }

  function dropLater(service: string) {
    const name = serviceDatabaseName(service);
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${name}`);
    });
  }

  it("provisions the database, applies migrations, and serves ctx.db and keyed requests from it", async () => {
    const name = `lc-${randomBytes(3).toString("hex")}`;
    dropLater(name);
    const contract = defineContract({ ...inventory, name });
    const dir = await migrations(
      "CREATE TABLE reservations (id serial PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL);",
    );
    const service = defineService({
      contract,
      database: { migrations: dir },
      handlers: {
        async reserve({ params, body }, ctx) {
          const { rows } = await ctx.db.query<{ id: number }>(
            "INSERT INTO reservations (sku, quantity) VALUES ($1, $2) RETURNING id",
            [params.sku, body.quantity],
          );
          return { reservationId: String(rows[0]!.id), quantity: body.quantity };
        },
        stock: async (_input, ctx) => {
          const { rows } = await ctx.db.query<{ sku: string; available: number }>(
            "SELECT sku, sum(quantity)::int AS available FROM reservations GROUP BY sku",
          );
          return rows;
        },
        release: async () => undefined,
        adjust: async ({ params }) => ({ sku: params.sku, available: 0 }),
      },
    });
    const running = await start(service, {});
    const dispatcher = agent();
    const post = () =>
      request(`${running.url}/reservations/ABC-1`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "once" },
        body: JSON.stringify({ quantity: 4 }),
        dispatcher,
      });
    const first = await post();
    const second = await post();
    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(await second.body.json()).toEqual(await first.body.json());
    const stock = await request(`${running.url}/stock`, { dispatcher });
    expect(await stock.body.json()).toEqual([{ sku: "ABC-1", available: 4 }]);
    const ready = await request(`${running.url}/health/ready`, { dispatcher });
    expect(await ready.body.json()).toMatchObject({ status: "pass", checks: { db: { status: "pass" } } });
    await running.stop();
  });

  it("fails to start with FLT_SERVICE_START_FAILED naming the step, leaving nothing listening", async () => {
    const dir = await migrations("SELECT 1;");
    const service = defineService({
      contract: inventory,
      database: { migrations: dir },
      handlers: {
        reserve: async () => ({ reservationId: "", quantity: 0 }),
        stock: async () => [],
        release: async () => undefined,
        adjust: async ({ params }) => ({ sku: params.sku, available: 0 }),
      },
    });
    await expect(
      startService(service, {
        config: {
          telemetry: { enabled: false },
          database: { url: "postgres://nobody@127.0.0.1:1/none" },
        },
        logger: testLogger().logger,
        metrics: testMetrics(),
      }),
    ).rejects.toMatchObject({ code: "FLT_SERVICE_START_FAILED", phase: "database" });
  });

  it("refuses a bad configuration with the path before starting anything", async () => {
    const g = gate();
    await expect(
      startService(slowInventory(g, { value: false }), {
        config: { port: -1, limits: { bodyLimit: "big" } } as never,
      }),
    ).rejects.toMatchObject({
      code: "FLT_CONFIG_INVALID",
      issues: [
        { path: "port", message: expect.any(String) },
        { path: "limits.bodyLimit", message: expect.any(String) },
      ],
    });
  });
});
