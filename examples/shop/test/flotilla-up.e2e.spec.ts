import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { provisionDatabase } from "@flotilla/service";
import { loadSystemConfig, type SystemState } from "flotilla";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse, stringify } from "yaml";
import {
  alive,
  type CliProcess,
  childrenOf,
  refuses,
  runCli,
  startCli,
} from "../../../packages/cli/test/fixtures/cli-process.ts";
import { eventually } from "./eventually.ts";
import { freePort } from "./free-port.ts";
import { type Answer, type CallInit, gatewayCall } from "./gateway-call.ts";

// The shop started the way a user starts it: `flotilla up` on examples/shop/flotilla.config.ts, as
// a child process, every service instance a grandchild. The test only changes what must not clash
// with other runs: the machine's PostgreSQL instead of the embedded one (databases of this run's
// own), free ports, and a state directory of its own. Then the README's curl lines, through the
// gateway only, and Ctrl-C.

const shopDir = fileURLToPath(new URL("../", import.meta.url));
const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
/** From spawning `flotilla up` to its "ready in" line; the whole file stays under 90 s. */
const readyTimeoutMs = 60_000;

function databaseUrl(name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

describe("flotilla up on the shop, driven through the gateway like the README", () => {
  const suffix = randomBytes(4).toString("hex");
  const databases: string[] = [];
  const seenPids = new Set<number>();
  const seenPorts = new Set<number>();
  let admin: pg.Client;
  let dir: string;
  let gatewayUrl: string;
  let up: CliProcess | undefined;
  let readyIn = "";

  const state = async (): Promise<SystemState> =>
    JSON.parse(await readFile(join(dir, ".flotilla", "state.json"), "utf8")) as SystemState;

  /** Every pid and port of the running system: state.json's, and the orders admin ports in the registry. */
  const remember = async (): Promise<void> => {
    const s = await state();
    for (const url of Object.values(s.urls))
      if (url.startsWith("http")) seenPorts.add(Number(new URL(url).port));
    for (const instances of Object.values(s.services)) {
      for (const instance of instances) {
        if (instance.pid !== undefined) seenPids.add(instance.pid);
        if (instance.port !== undefined && instance.port > 0) seenPorts.add(instance.port);
      }
    }
    const admins = await fetch(`${s.urls.registry}/v1/services/orders-admin?status=any`);
    const { instances } = (await admins.json()) as { instances: { port: number }[] };
    for (const instance of instances) seenPorts.add(instance.port);
  };

  const call = (method: string, path: string, init?: CallInit): Promise<Answer> =>
    gatewayCall(method, `${gatewayUrl}${path}`, init);

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    dir = await mkdtemp(join(tmpdir(), "shop-up-"));
    const shop = await loadSystemConfig(join(shopDir, "flotilla.config.ts"));
    if (shop.messaging.transport !== "postgres" || shop.gateway === undefined) {
      throw new Error("this test expects the shop on the PostgreSQL transport with a gateway");
    }

    // A database of this run's own per service with migrations, handed over as FLOTILLA_DATABASE_URL
    // (so the services provision nothing), and a bus database.
    const services: Record<string, { main: string; instances: number; env: Record<string, string> }> = {};
    for (const [name, service] of Object.entries(shop.services)) {
      const env = { ...service.env };
      if (existsSync(join(dirname(service.main), "migrations"))) {
        const database = `shop_up_${name}_${suffix}`;
        databases.push(database);
        const { url } = await provisionDatabase({ service: name, adminUrl, database, role: database });
        env.FLOTILLA_DATABASE_URL = url;
      }
      services[name] = { main: service.main, instances: service.instances, env };
    }
    const bus = `shop_up_bus_${suffix}`;
    await admin.query(`CREATE DATABASE ${bus}`);
    databases.push(bus);

    // The gateway's JWT provider reads the key set through the gateway itself: same port in both.
    const gatewayPort = await freePort();
    const gatewayConfig = parse(await readFile(shop.gateway.config, "utf8"));
    gatewayConfig.auth.jwt.shop.jwksUrl = `http://127.0.0.1:${gatewayPort}/api/auth/jwks.json`;
    await writeFile(join(dir, "gateway.yaml"), stringify(gatewayConfig));

    const config = {
      name: shop.name,
      stateDir: join(dir, ".flotilla"),
      database: { url: adminUrl },
      messaging: { transport: "postgres", url: databaseUrl(bus) },
      registry: { port: 0 },
      collector: { port: 0 },
      gateway: { port: gatewayPort, config: join(dir, "gateway.yaml") },
      services,
    };
    await writeFile(join(dir, "flotilla.config.yaml"), JSON.stringify(config, null, 2));

    const started = performance.now();
    up = startCli(["up"], dir);
    const ready = await up.waitFor(/ready in (\d+\.\d) s/, readyTimeoutMs);
    readyIn = `${ready[1]} s (${Math.round(performance.now() - started)} ms from spawn)`;
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    await remember();
  }, readyTimeoutMs + 20_000);

  afterAll(async () => {
    if (up !== undefined && up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill("SIGINT");
      await up.exited();
    }
    for (const pid of seenPids) if (alive(pid)) process.kill(pid, "SIGKILL");
    for (const name of databases) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${name}`);
    }
    await admin?.end();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  test("prints the gateway's URL and the time to ready", async () => {
    const out = up!.output();
    expect(out).toMatch(/shop is up/);
    expect(out).toContain(`gateway    ${gatewayUrl}`);
    const s = await state();
    expect(Object.keys(s.services).sort()).toEqual([
      "catalog",
      "inventory",
      "notifications",
      "orders",
      "payments",
      "recommendations",
      "reviews",
      "shipping",
      "users",
    ]);
    expect(s.services.orders?.map((i) => i.health)).toEqual(["passing", "passing"]);
    process.stdout.write(`[flotilla up] shop ready in ${readyIn}\n`);
  });

  test("the README's curl lines answer as printed", async () => {
    // log in (demo: no password) and keep the token
    const login = await call("POST", "/api/auth/token", { body: { email: "alice@example.com" } });
    expect(login.status).toBe(200);
    const token = login.body.accessToken as string;
    expect(token.split(".")).toHaveLength(3);

    // browse: the second call is answered by the gateway's cache (Cache-Status: flotilla; hit)
    const products = await call("GET", "/api/products");
    expect(products.status).toBe(200);
    expect(products.headers.get("cache-control")).toBe("public, max-age=30");
    const cached = await call("GET", "/api/products");
    expect(cached.headers.get("cache-status")).toMatch(/^flotilla; hit/);
    const mug = await call("GET", "/api/products/p-mug");
    expect(mug.status).toBe(200);
    expect(mug.body).toMatchObject({ id: "p-mug", priceCents: 1500 });
    // the mobile BFF: three fields per product
    const mobile = await call("GET", "/m/products");
    expect(mobile.status).toBe(200);
    expect(mobile.body.products.length).toBe(products.body.products.length);
    for (const product of mobile.body.products)
      expect(Object.keys(product).sort()).toEqual(["id", "name", "priceCents"]);

    // place an order (201, status pending), then watch the saga confirm it
    const placed = await call("POST", "/api/orders", {
      token,
      headers: { "idempotency-key": randomUUID() },
      body: { items: [{ productId: "p-mug", quantity: 2 }] },
    });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body.status).toBe("pending");
    const orderId = placed.body.orderId as string;
    const confirmed = await eventually(
      () => call("GET", `/api/orders/${orderId}`, { token }),
      (answer) => answer.status === 200 && answer.body.status !== "pending",
    );
    expect(confirmed.body).toMatchObject({ status: "confirmed", totalCents: 3000 });

    // a declined card: the saga compensates and the order ends cancelled
    const declined = await call("POST", "/api/orders", {
      token,
      body: { items: [{ productId: "p-kettle", quantity: 1 }], paymentMethod: "tok_declined" },
    });
    expect(declined.status).toBe(201);
    const cancelled = await eventually(
      () => call("GET", `/api/orders/${declined.body.orderId}`, { token }),
      (answer) => answer.status === 200 && answer.body.status !== "pending",
    );
    expect(cancelled.body.status).toBe("cancelled");

    // the dashboard: profile + recent orders + recommendations in parallel; a failed part is in _meta.partial
    const dashboard = await call("GET", "/api/dashboard", { token });
    expect(dashboard.status).toBe(200);
    expect(dashboard.body.profile.email).toBe("alice@example.com");
    const partial: string[] = dashboard.body._meta?.partial ?? [];
    if (partial.includes("orders")) expect(dashboard.body.orders).toEqual({ orders: [] });
    else expect(dashboard.body.orders.orders.map((o: { orderId: string }) => o.orderId)).toContain(orderId);
    if (partial.includes("recommendations")) expect(dashboard.body.recommendations).toEqual({ items: [] });
    else expect(dashboard.body.recommendations.items).toHaveLength(2);

    // npx flotilla saga $ORDER: order → payment → inventory → shipping → confirm, with times
    const saga = await runCli(["saga", orderId], dir);
    expect(saga.code, saga.output).toBe(0);
    expect(saga.output).toContain(`shop.order ${orderId}`);
    expect(saga.output).toMatch(/: COMPLETED/);
    const steps = [...saga.output.matchAll(/^\s*(\S+)\s+(invoke|compensate)\s+(succeeded|failed)\s/gm)];
    expect(steps.map((m) => `${m[1]} ${m[2]} ${m[3]}`)).toEqual(
      ["order", "payment", "inventory", "shipping", "confirm"].map((step) => `${step} invoke succeeded`),
    );
  }, 60_000);

  test("Ctrl-C stops everything: exit 0, no child process, no open port, no state.json", async () => {
    await remember();
    const cli = up!;
    const pid = cli.child.pid as number;
    cli.child.kill("SIGINT");
    expect(await cli.exited()).toBe(0);
    expect(childrenOf(pid)).toEqual([]);
    expect(seenPids.size).toBeGreaterThanOrEqual(13);
    for (const child of seenPids) expect(alive(child), `instance pid ${child}`).toBe(false);
    expect(seenPorts.size).toBeGreaterThanOrEqual(13 + 2 + 3);
    for (const port of seenPorts) expect(await refuses(port), `port ${port}`).toBe(true);
    expect(existsSync(join(dir, ".flotilla", "state.json"))).toBe(false);
  }, 30_000);
});
