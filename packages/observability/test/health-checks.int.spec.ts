import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HealthReport } from "../src/health/health-check.js";
import { healthChecks, healthContentType } from "../src/health/health-checks.js";
import { httpCheck } from "../src/health/http-check.js";
import { postgresCheck } from "../src/health/postgres-check.js";
import { tcpCheck } from "../src/health/tcp-check.js";

const admin = { host: "127.0.0.1", port: 5432, user: "postgres" };
const database = `flt_health_${randomBytes(4).toString("hex")}`;
const servers: Server[] = [];
const pools: pg.Pool[] = [];

beforeAll(async () => {
  const client = new pg.Client({ ...admin, database: "postgres" });
  await client.connect();
  await client.query(`CREATE DATABASE ${database}`);
  await client.end();
});

afterAll(async () => {
  const client = new pg.Client({ ...admin, database: "postgres" });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await client.end();
});

afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.end();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  }
});

function pool(port: number): pg.Pool {
  const p = new pg.Pool({ ...admin, port, database, connectionTimeoutMillis: 2000 });
  pools.push(p);
  return p;
}

async function listen(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port that was just free: listened on and closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

async function probe(
  url: string,
  method = "GET",
): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

describe("health checks against real dependencies", () => {
  it("passes against PostgreSQL and fails with the driver's error on a closed port", async () => {
    const down = await closedPort();
    const health = healthChecks({
      ready: { db: postgresCheck(pool(5432)), replica: postgresCheck(pool(down)) },
    });
    health.markReady();
    const report = await health.ready();
    expect(report.status).toBe("fail");
    expect(report.checks.db).toMatchObject({ status: "pass" });
    expect(report.checks.db!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(report.checks.replica).toMatchObject({ status: "fail" });
    expect(report.checks.replica!.error).toContain(`ECONNREFUSED 127.0.0.1:${down}`);
  });

  it("checks TCP ports and HTTP health endpoints", async () => {
    const down = await closedPort();
    let dependencyStatus = 200;
    const dependency = await listen((_req, res) => {
      res.writeHead(dependencyStatus, { "content-type": "application/json" }).end('{"status":"pass"}');
    });
    const health = healthChecks({
      ready: {
        postgresPort: tcpCheck("127.0.0.1", 5432),
        closedPort: tcpCheck("127.0.0.1", down),
        payments: httpCheck(`${dependency}/health/ready`),
        gone: httpCheck(`http://127.0.0.1:${down}/health/ready`),
      },
      cacheTtl: 0,
    });
    health.markReady();
    let report = await health.ready();
    expect(report.checks.postgresPort!.status).toBe("pass");
    expect(report.checks.closedPort).toMatchObject({
      status: "fail",
      error: `connect ECONNREFUSED 127.0.0.1:${down}`,
    });
    expect(report.checks.payments!.status).toBe("pass");
    expect(report.checks.gone).toMatchObject({
      status: "fail",
      error: `connect ECONNREFUSED 127.0.0.1:${down}`,
    });

    dependencyStatus = 503;
    report = await health.ready();
    expect(report.checks.payments).toMatchObject({
      status: "fail",
      error: `GET ${dependency}/health/ready answered 503`,
    });
  });

  it("answers the probes over HTTP with 200 or 503 through the startup and draining phases", async () => {
    let dbHealthy = true;
    const health = healthChecks({
      live: { loop: () => {} },
      ready: {
        db: postgresCheck(pool(5432)),
        flag: () => {
          if (!dbHealthy) throw new Error("flag down");
        },
      },
      cacheTtl: 0,
    });
    const base = await listen((req, res) => {
      if (!health.handle(req, res)) res.writeHead(404).end();
    });

    const starting = await probe(`${base}/health/ready`);
    expect(starting.status).toBe(503);
    expect(starting.type).toBe(healthContentType);
    expect(JSON.parse(starting.body)).toEqual({ status: "starting", checks: {} });
    expect((await probe(`${base}/health/live`)).status).toBe(200);

    health.markReady();
    const ready = await probe(`${base}/health/ready?verbose=1`);
    expect(ready.status).toBe(200);
    const body = JSON.parse(ready.body) as HealthReport;
    expect(body.status).toBe("pass");
    expect(Object.keys(body.checks)).toEqual(["db", "flag"]);
    expect(typeof body.checks.db!.latencyMs).toBe("number");

    dbHealthy = false;
    const failing = await probe(`${base}/health/ready`);
    expect(failing.status).toBe(503);
    expect(JSON.parse(failing.body).checks.flag).toMatchObject({ status: "fail", error: "flag down" });
    dbHealthy = true;

    const head = await probe(`${base}/health/ready`, "HEAD");
    expect(head).toMatchObject({ status: 200, body: "" });
    const post = await probe(`${base}/health/live`, "POST");
    expect(post.status).toBe(405);
    expect((await probe(`${base}/health`)).status).toBe(404);

    health.drain();
    const draining = await probe(`${base}/health/ready`);
    expect(draining.status).toBe(503);
    expect(JSON.parse(draining.body)).toEqual({ status: "draining", checks: {} });
    const live = await probe(`${base}/health/live`);
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body)).toMatchObject({ status: "pass", checks: { loop: { status: "pass" } } });
  });
});
