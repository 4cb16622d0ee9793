import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  DatabaseConflictError,
  DatabaseConnectError,
  DatabaseNameError,
  DatabasePermissionError,
} from "../src/database/database-error.js";
import type { DatabaseLogger } from "../src/database/database-logger.js";
import { provisionDatabase, provisionLockKey } from "../src/database/provision-database.js";
import { scramSha256Verifier } from "../src/database/scram-verifier.js";

// The machine's PostgreSQL uses trust auth: a role's name, not its password, is its identity there.
const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const databases: string[] = [];
const roles: string[] = [];

function unique(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

async function asAdmin<T>(fn: (client: pg.Client) => Promise<T>, database = "postgres"): Promise<T> {
  const client = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function connect(url: string | URL): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: String(url) });
  await client.connect();
  return client;
}

/** The error `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

function recorder() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const log = (level: string) => (fields: object, message: string) => {
    lines.push({ level, fields: fields as Record<string, unknown>, message });
  };
  const logger: DatabaseLogger = { info: log("info"), warn: log("warn"), error: log("error") };
  return { lines, logger };
}

/** Provisions `service` and remembers its database and role for clean-up. */
async function provision(options: Parameters<typeof provisionDatabase>[0]) {
  const result = await provisionDatabase({ logger: recorder().logger, ...options });
  if (!databases.includes(result.database)) databases.push(result.database);
  if (!roles.includes(result.role)) roles.push(result.role);
  return result;
}

afterAll(async () => {
  await asAdmin(async (client) => {
    for (const database of databases) {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    }
    for (const role of roles) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  });
});

describe("provisionDatabase", () => {
  it("creates a database owned by a LOGIN role of its own, closed to PUBLIC, and returns its URL", async () => {
    const service = unique("Orders-Svc");
    const result = await provision({ service, adminUrl });
    const name = `flotilla_${service.toLowerCase().replace("-", "_")}`;
    expect(result).toMatchObject({ database: name, role: name });
    const url = new URL(result.url);
    expect(url.username).toBe(name);
    expect(url.password).not.toBe("");
    expect(url.pathname).toBe(`/${name}`);
    expect(url.searchParams.get("application_name")).toBe(service);

    const facts = await asAdmin(async (client) => {
      const db = await client.query(
        `SELECT pg_get_userbyid(datdba) AS owner, datacl::text[] AS acl FROM pg_database WHERE datname = $1`,
        [name],
      );
      const role = await client.query(
        `SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolpassword
           FROM pg_authid WHERE rolname = $1`,
        [name],
      );
      return { db: db.rows[0], role: role.rows[0] };
    });
    expect(facts.db.owner).toBe(name);
    // An ACL entry granted to PUBLIC starts with "=": there must be none.
    expect((facts.db.acl as string[]).filter((entry) => entry.startsWith("="))).toEqual([]);
    expect(facts.role).toMatchObject({
      rolcanlogin: true,
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
    });
    expect(facts.role.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);

    const client = await connect(result.url);
    try {
      const who = await client.query(
        "SELECT current_user AS role, current_database() AS db, current_setting('application_name') AS app",
      );
      expect(who.rows[0]).toEqual({ role: name, db: name, app: service });
      await client.query("CREATE TABLE orders (id int PRIMARY KEY)");
      await client.query("INSERT INTO orders VALUES (1)");
    } finally {
      await client.end();
    }
  });

  it("is idempotent: a second call keeps the database, its data and the role's password", async () => {
    const service = unique("catalog");
    const log = recorder();
    const first = await provision({ service, adminUrl, logger: log.logger });
    const passwordOf = () =>
      asAdmin(
        async (c) =>
          (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [first.role])).rows[0],
      );
    const before = await passwordOf();
    const client = await connect(first.url);
    await client.query("CREATE TABLE items (id int)");
    await client.end();

    const second = await provision({ service, adminUrl, logger: log.logger });
    expect(second.database).toBe(first.database);
    expect(second.role).toBe(first.role);
    // The generated password cannot be read back, so the URL carries none and a warning says so.
    expect(new URL(second.url).password).toBe("");
    expect(await passwordOf()).toEqual(before);
    expect(log.lines.map((l) => `${l.level} ${l.message}`)).toEqual([
      "info created role",
      "info created database",
      expect.stringMatching(/^warn role exists and no password was given/),
    ]);
    const again = await connect(second.url);
    expect((await again.query("SELECT count(*)::int AS n FROM items")).rows[0].n).toBe(0);
    await again.end();

    const third = await provision({ service, adminUrl, password: "from-a-secret", logger: log.logger });
    expect(new URL(third.url).password).toBe("from-a-secret");
    expect(await passwordOf()).not.toEqual(before);
  });

  it("creates the database once when 5 instances provision the same service at once", async () => {
    const service = unique("inventory");
    const app = unique("provision_race");
    const log = recorder();
    const lockHolder = new pg.Client({ connectionString: adminUrl });
    await lockHolder.connect();
    try {
      await lockHolder.query("SELECT pg_advisory_lock($1::bigint)", [provisionLockKey.toString()]);
      const calls = Array.from({ length: 5 }, () =>
        provision({
          service,
          adminUrl: `${adminUrl}?application_name=${app}`,
          password: "shared-secret",
          logger: log.logger,
        }),
      );
      // Only once all 5 wait on the lock is it released, so they really contend for it.
      await waitFor(async () => {
        const { rows } = await lockHolder.query(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = $1`,
          [app],
        );
        return rows[0].n === 5;
      });
      await lockHolder.query("SELECT pg_advisory_unlock($1::bigint)", [provisionLockKey.toString()]);
      const results = await Promise.all(calls);
      expect(new Set(results.map((r) => r.url)).size).toBe(1);
      expect(log.lines.filter((l) => l.message === "created role")).toHaveLength(1);
      expect(log.lines.filter((l) => l.message === "created database")).toHaveLength(1);
      expect(log.lines.filter((l) => l.level !== "info")).toEqual([]);
    } finally {
      await lockHolder.end();
    }
  });

  it("two services share no database: A's role can neither connect to B's database nor read B's tables", async () => {
    const a = await provision({ service: unique("svc_a"), adminUrl });
    const b = await provision({ service: unique("svc_b"), adminUrl });
    const asB = await connect(b.url);
    await asB.query("CREATE TABLE secrets (value text)");
    await asB.query("INSERT INTO secrets VALUES ('b only')");
    await asB.end();

    // Service A's credentials, pointed at B's database.
    const aOnB = new URL(a.url);
    aOnB.pathname = `/${b.database}`;
    const refused = await rejection(connect(aOnB));
    expect(refused.code).toBe("42501");
    expect(refused.message).toBe(`permission denied for database "${b.database}"`);
    expect(refused.message).toContain(b.database);

    const privileges = await asAdmin(
      async (c) =>
        (
          await c.query(
            `SELECT has_database_privilege($1, $2, 'CONNECT') AS a_on_b,
                  has_database_privilege($3, $4, 'CONNECT') AS b_on_a,
                  has_database_privilege('public', $2, 'CONNECT') AS public_on_b`,
            [a.role, b.database, b.role, a.database],
          )
        ).rows[0],
    );
    expect(privileges).toEqual({ a_on_b: false, b_on_a: false, public_on_b: false });

    // Even if B's database were opened to A by mistake, B's tables stay B's.
    await asAdmin((c) =>
      c.query(
        `GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(b.database)} TO ${pg.escapeIdentifier(a.role)}`,
      ),
    );
    const intruder = await connect(aOnB);
    try {
      expect((await rejection(intruder.query("SELECT value FROM secrets"))).message).toBe(
        "permission denied for table secrets",
      );
      expect((await rejection(intruder.query("CREATE TABLE planted (x int)"))).message).toBe(
        "permission denied for schema public",
      );
    } finally {
      await intruder.end();
    }
  });

  it("works with an admin that has CREATEROLE and CREATEDB but is no superuser (managed PostgreSQL)", async () => {
    const creator = unique("flt_creator");
    roles.push(creator);
    await asAdmin((c) => c.query(`CREATE ROLE ${creator} LOGIN CREATEROLE CREATEDB`));
    const result = await provision({
      service: unique("payments"),
      adminUrl: `postgres://${creator}@127.0.0.1:5432/postgres`,
    });
    const owner = await asAdmin(
      async (c) =>
        (
          await c.query("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [
            result.database,
          ])
        ).rows[0].owner,
    );
    expect(owner).toBe(result.role);
    const client = await connect(result.url);
    expect((await client.query("SELECT current_user AS u")).rows[0].u).toBe(result.role);
    await client.end();
  });

  it("sends a SCRAM verifier that matches the one PostgreSQL computes itself", async () => {
    const role = unique("flt_scram");
    roles.push(role);
    const password = "correct horse\u00A0battery ﬁ";
    const stored = await asAdmin(async (c) => {
      await c.query("SET password_encryption = 'scram-sha-256'");
      await c.query(`CREATE ROLE ${role} PASSWORD ${pg.escapeLiteral(password)}`);
      return (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [role])).rows[0]
        .rolpassword;
    });
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
    expect(
      await scramSha256Verifier(password, {
        iterations: Number(iterations),
        salt: Buffer.from(salt!, "base64"),
      }),
    ).toBe(stored);
  });
});

describe("provisionDatabase errors", () => {
  it("names the admin URL, without its password, when the connection is refused", async () => {
    const port = await closedPort();
    const error = await rejection(
      provisionDatabase({
        service: "orders",
        adminUrl: `postgres://postgres:hunter2@127.0.0.1:${port}/postgres`,
      }),
    );
    expect(error).toBeInstanceOf(DatabaseConnectError);
    expect(error.code).toBe("FLT_SERVICE_DB_CONNECT_FAILED");
    expect(error.message).toBe(
      `cannot connect to postgres://postgres:***@127.0.0.1:${port}/postgres: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect((error.cause as { code?: string }).code).toBe("ECONNREFUSED");
  });

  it("names the step and the admin role when the admin lacks a privilege", async () => {
    const weak = unique("flt_weak");
    roles.push(weak);
    await asAdmin((c) => c.query(`CREATE ROLE ${weak} LOGIN`));
    const service = unique("shipping");
    const error = await rejection(
      provisionDatabase({ service, adminUrl: `postgres://${weak}@127.0.0.1:5432/postgres` }),
    );
    expect(error).toBeInstanceOf(DatabasePermissionError);
    expect(error.code).toBe("FLT_SERVICE_DB_PERMISSION_DENIED");
    expect(error).toMatchObject({ step: `create role "flotilla_${service}"`, adminRole: weak });
    expect(error.message).toContain(
      `permission denied to create role "flotilla_${service}" as role "${weak}"`,
    );
    expect((error.cause as { code?: string }).code).toBe("42501");
  });

  it("refuses invalid names", async () => {
    const error = await rejection(provisionDatabase({ service: "orders", database: "Orders", adminUrl }));
    expect(error).toBeInstanceOf(DatabaseNameError);
    expect(error.message).toBe(
      'invalid database name "Orders": expected lower-case letters, digits and underscores, not starting with a digit',
    );
  });

  it("refuses to take over a database owned by another role, leaving it as it was", async () => {
    const owner = await provision({ service: unique("owner"), adminUrl });
    const thief = unique("flt_thief");
    roles.push(thief);
    const error = await rejection(
      provisionDatabase({ service: "thief", database: owner.database, role: thief, adminUrl }),
    );
    expect(error).toBeInstanceOf(DatabaseConflictError);
    expect(error.message).toContain(
      `database "${owner.database}" exists and is owned by role "${owner.role}", not "${thief}"`,
    );
    const current = await asAdmin(
      async (c) =>
        (
          await c.query("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [
            owner.database,
          ])
        ).rows[0].owner,
    );
    expect(current).toBe(owner.role);
  });

  it("refuses a superuser role", async () => {
    const role = unique("flt_su");
    roles.push(role);
    await asAdmin((c) => c.query(`CREATE ROLE ${role} SUPERUSER`));
    const error = await rejection(provisionDatabase({ service: unique("su"), role, adminUrl }));
    expect(error).toBeInstanceOf(DatabaseConflictError);
    expect(error.message).toContain(`role "${role}" exists and is a superuser`);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/** Polls `condition` (a cross-process fact) until it holds, failing after 10 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met within 10 s");
    await new Promise((resolve) => setImmediate(resolve));
  }
}
