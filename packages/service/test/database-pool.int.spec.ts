import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { healthChecks } from "@flotilla/observability";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { database } from "../src/database/database.js";
import type { DatabaseLogger } from "../src/database/database-logger.js";
import { provisionDatabase } from "../src/database/provision-database.js";
import { servicePool } from "../src/database/service-pool.js";

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const silent: DatabaseLogger = { info: () => {}, warn: () => {}, error: () => {} };
const service = `pool_${randomBytes(4).toString("hex")}`;
let provisioned: { url: string; database: string; role: string };
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  provisioned = await provisionDatabase({ service, adminUrl, logger: silent });
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

afterAll(async () => {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(provisioned.database)} WITH (FORCE)`);
  await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(provisioned.role)}`);
  await client.end();
});

async function asAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

describe("servicePool", () => {
  it("has bounded defaults and names its connections after the service", async () => {
    const pool = servicePool({ url: provisioned.url, logger: silent });
    closers.push(() => pool.end());
    expect(pool.options).toMatchObject({
      max: 10,
      min: 0,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    });
    const { rows } = await pool.query(
      "SELECT application_name AS app FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    );
    expect(rows[0].app).toBe(service);

    const renamed = servicePool({ url: provisioned.url, applicationName: "orders-worker", logger: silent });
    closers.push(() => renamed.end());
    expect((await renamed.query("SELECT current_setting('application_name') AS app")).rows[0].app).toBe(
      "orders-worker",
    );
  });

  it("applies statementTimeout on the server", async () => {
    const pool = servicePool({ url: provisioned.url, statementTimeout: "100ms", logger: silent });
    closers.push(() => pool.end());
    expect((await pool.query("SELECT current_setting('statement_timeout') AS t")).rows[0].t).toBe("100ms");
    const error = await rejection(pool.query("SELECT pg_sleep(10)"));
    expect(error.code).toBe("57014");
  });

  it("logs an idle connection's failure instead of crashing, and goes on with a new connection", async () => {
    let reported!: (fields: Record<string, unknown>) => void;
    const failure = new Promise<Record<string, unknown>>((resolve) => {
      reported = resolve;
    });
    const logger: DatabaseLogger = {
      info: () => {},
      warn: () => {},
      error: (fields, message) => reported({ ...fields, message }),
    };
    const pool = servicePool({ url: `${provisioned.url.replace(/:[^:@/]*@/, ":secret@")}`, max: 1, logger });
    closers.push(() => pool.end());
    const before = (await pool.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    expect(pool.idleCount).toBe(1);

    await asAdmin((c) => c.query("SELECT pg_terminate_backend($1)", [before]));
    const fields = await failure;
    expect(fields.message).toBe(
      "idle PostgreSQL connection failed; the pool dropped it and opens a new one when needed",
    );
    expect((fields.err as { code?: string }).code).toBe("57P01");
    expect(fields.url).toContain(":***@");
    expect(fields.url).not.toContain("secret");

    const after = (await pool.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    expect(after).not.toBe(before);
  });
});

describe("database()", () => {
  it("queries, runs transactions and migrations on the service's pool", async () => {
    const db = database({ url: provisioned.url, max: 2, logger: silent });
    closers.push(() => db.close());
    const dir = await mkdtemp(join(tmpdir(), "flt-db-"));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "0001_kv.sql"), "CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL);");

    expect(await db.migrate({ directory: dir })).toEqual({ applied: ["0001_kv.sql"], skipped: 0 });
    await db.transaction(async (client) => {
      await client.query("INSERT INTO kv VALUES ($1, $2)", ["a", 1]);
      await client.query("INSERT INTO kv VALUES ($1, $2)", ["b", 2]);
    });
    await rejection(
      db.transaction(async (client) => {
        await client.query("INSERT INTO kv VALUES ('c', 3)");
        throw new Error("abandon");
      }),
    );
    const { rows } = await db.query<{ k: string; v: number }>(
      "SELECT k, v FROM kv WHERE v >= $1 ORDER BY k",
      [1],
    );
    expect(rows).toEqual([
      { k: "a", v: 1 },
      { k: "b", v: 2 },
    ]);
  });

  it("gives a readiness check for healthChecks that passes with pool details, and fails once closed", async () => {
    const db = database({ url: provisioned.url, logger: silent });
    const health = healthChecks({ ready: { db: db.health() }, cacheTtl: 0 });
    health.markReady();
    const report = await health.ready();
    expect(report.status).toBe("pass");
    expect(report.checks.db).toMatchObject({ status: "pass", details: { total: 1, idle: 1, waiting: 0 } });

    await Promise.all([db.close(), db.close()]);
    await db.close();
    const down = await health.ready();
    expect(down.status).toBe("fail");
    expect(down.checks.db!.error).toBe("Cannot use a pool after calling end on the pool");
  });
});
