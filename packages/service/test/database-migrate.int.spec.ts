import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type Database, database } from "../src/database/database.js";
import type { DatabaseLogger } from "../src/database/database-logger.js";
import { migrate, migrationLockKey } from "../src/database/migrate.js";
import {
  MigrationChecksumError,
  MigrationFailedError,
  MigrationMissingError,
  MigrationOrderError,
  MigrationSourceError,
} from "../src/database/migration-error.js";
import { provisionDatabase } from "../src/database/provision-database.js";

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const silent: DatabaseLogger = { info: () => {}, warn: () => {}, error: () => {} };
const provisioned: { database: string; role: string }[] = [];
const dirs: string[] = [];
const open: Database[] = [];

afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  for (const { database: name } of provisioned) {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  }
  for (const { role } of provisioned) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  await client.end();
});

/** A new service database, and its URL (logging in as the service's own role). */
async function freshDatabase(): Promise<string> {
  const result = await provisionDatabase({
    service: `mig_${randomBytes(4).toString("hex")}`,
    adminUrl,
    logger: silent,
  });
  provisioned.push(result);
  return result.url;
}

function connect(url: string, max = 2): Database {
  const db = database({ url, max, logger: silent });
  open.push(db);
  return db;
}

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flt-migrations-"));
  dirs.push(dir);
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error("expected a rejection");
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("migrate", () => {
  it("applies files in version order, each recorded with its checksum; a second run is a no-op", async () => {
    const db = connect(await freshDatabase());
    const files = {
      "1_create_log.sql": "CREATE TABLE log (id serial PRIMARY KEY, entry text NOT NULL);",
      "10_ten.sql": "INSERT INTO log (entry) VALUES ('ten');",
      "2_two.sql": "INSERT INTO log (entry) VALUES ('two');\nINSERT INTO log (entry) VALUES ('two again');",
      "README.md": "not a migration",
    };
    const dir = await folder(files);
    const lines: string[] = [];
    const logger = {
      ...silent,
      info: (fields: object, message: string) => lines.push(`${message} ${JSON.stringify(fields)}`),
    };

    expect(await migrate(db.pool, { directory: dir, logger })).toEqual({
      applied: ["1_create_log.sql", "2_two.sql", "10_ten.sql"],
      skipped: 0,
    });
    expect((await db.query("SELECT entry FROM log ORDER BY id")).rows.map((r) => r.entry)).toEqual([
      "two",
      "two again",
      "ten",
    ]);
    const recorded = await db.query(
      "SELECT version::int, name, checksum, applied_at, duration_ms FROM flotilla_migrations ORDER BY version",
    );
    expect(recorded.rows.map(({ version, name, checksum }) => ({ version, name, checksum }))).toEqual([
      { version: 1, name: "1_create_log.sql", checksum: sha256(files["1_create_log.sql"]) },
      { version: 2, name: "2_two.sql", checksum: sha256(files["2_two.sql"]) },
      { version: 10, name: "10_ten.sql", checksum: sha256(files["10_ten.sql"]) },
    ]);
    for (const row of recorded.rows) {
      expect(row.applied_at).toBeInstanceOf(Date);
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    }
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^applied migration \{"migration":"1_create_log.sql","durationMs":\d+\}$/);

    expect(await migrate(db.pool, { directory: dir })).toEqual({ applied: [], skipped: 3 });
    expect((await db.query("SELECT count(*)::int AS n FROM log")).rows[0]!.n).toBe(3);

    await writeFile(join(dir, "11_eleven.sql"), "INSERT INTO log (entry) VALUES ('eleven');");
    expect(await migrate(db.pool, { directory: dir })).toEqual({ applied: ["11_eleven.sql"], skipped: 3 });
  });

  it("refuses an applied migration whose file was edited, naming the file and both checksums", async () => {
    const db = connect(await freshDatabase());
    const original = "CREATE TABLE t (id int);\nCREATE TABLE t2 (id int);\n";
    const dir = await folder({ "0001_t.sql": original });
    await db.migrate({ directory: dir });

    const edited = "CREATE TABLE t (id bigint);\nCREATE TABLE t2 (id int);\n";
    await writeFile(join(dir, "0001_t.sql"), edited);
    await writeFile(join(dir, "0002_u.sql"), "CREATE TABLE u (id int);");
    const error = await rejection(db.migrate({ directory: dir }));
    expect(error).toBeInstanceOf(MigrationChecksumError);
    expect(error.code).toBe("FLT_SERVICE_MIGRATION_CHECKSUM");
    expect(error).toMatchObject({ file: "0001_t.sql", recorded: sha256(original), actual: sha256(edited) });
    expect(error.message).toContain(
      `migration 0001_t.sql was changed after it was applied: recorded sha256 ${sha256(original)}, file now ${sha256(edited)}`,
    );
    expect((await db.query("SELECT to_regclass('u') AS u")).rows[0]!.u).toBeNull();

    // The original with line endings changed by a checkout is not an edit.
    await writeFile(join(dir, "0001_t.sql"), original.replaceAll("\n", "\r\n"));
    expect(await db.migrate({ directory: dir })).toEqual({ applied: ["0002_u.sql"], skipped: 1 });
  });

  it("rolls a failing migration back, stops there, and names the file, line and PostgreSQL's error", async () => {
    const db = connect(await freshDatabase());
    const dir = await folder({
      "0001_ok.sql": "CREATE TABLE ok (id int);",
      "0002_bad.sql": "CREATE TABLE partial (id int);\nINSERT INTO partial VALUES (1);\n  SELEC 1;\n",
      "0003_later.sql": "CREATE TABLE later (id int);",
    });
    const error = await rejection(db.migrate({ directory: dir }));
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect(error).toMatchObject({
      code: "FLT_SERVICE_MIGRATION_FAILED",
      file: "0002_bad.sql",
      line: 3,
      column: 3,
    });
    expect(error.message).toBe(
      'migration 0002_bad.sql failed at line 3, column 3: syntax error at or near "SELEC" (SQLSTATE 42601); it was rolled back and later migrations were not applied',
    );
    expect(error.cause).toMatchObject({ code: "42601", position: "66" });

    const state = await db.query(
      "SELECT to_regclass('ok') IS NOT NULL AS ok, to_regclass('partial') IS NOT NULL AS partial, to_regclass('later') IS NOT NULL AS later",
    );
    expect(state.rows[0]).toEqual({ ok: true, partial: false, later: false });
    expect((await db.query("SELECT name FROM flotilla_migrations")).rows).toEqual([{ name: "0001_ok.sql" }]);
    // The lock and the connection were given back: a fixed file applies on the next run.
    expect(db.pool.totalCount).toBe(db.pool.idleCount);
    await writeFile(join(dir, "0002_bad.sql"), "CREATE TABLE partial (id int);");
    expect(await db.migrate({ directory: dir })).toEqual({
      applied: ["0002_bad.sql", "0003_later.sql"],
      skipped: 1,
    });
  });

  it("refuses applied migrations that went missing, unless allowMissing", async () => {
    const db = connect(await freshDatabase());
    const dir = await folder({ "0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 2;" });
    await db.migrate({ directory: dir });
    await unlink(join(dir, "0001_a.sql"));
    await writeFile(join(dir, "0003_c.sql"), "CREATE TABLE c (id int);");
    const error = await rejection(db.migrate({ directory: dir }));
    expect(error).toBeInstanceOf(MigrationMissingError);
    expect(error.message).toBe(
      `applied migration missing from ${dir}: 0001_a.sql; restore it or pass allowMissing: true`,
    );
    expect((await db.query("SELECT to_regclass('c') AS c")).rows[0]!.c).toBeNull();
    expect(await db.migrate({ directory: dir, allowMissing: true })).toEqual({
      applied: ["0003_c.sql"],
      skipped: 1,
    });
  });

  it("refuses a pending migration numbered below an applied one, unless allowOutOfOrder", async () => {
    const db = connect(await freshDatabase());
    const dir = await folder({ "0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 3;" });
    await db.migrate({ directory: dir });
    await writeFile(join(dir, "0002_b.sql"), "CREATE TABLE b (id int);");
    const error = await rejection(db.migrate({ directory: dir }));
    expect(error).toBeInstanceOf(MigrationOrderError);
    expect(error.message).toContain("pending migration 0002_b.sql numbered below the applied 0003_c.sql");
    expect(await db.migrate({ directory: dir, allowOutOfOrder: true })).toEqual({
      applied: ["0002_b.sql"],
      skipped: 2,
    });
  });

  it("applies each migration exactly once when 5 instances migrate at once", async () => {
    const url = await freshDatabase();
    const files: Record<string, string> = {
      "0001_effects.sql": "CREATE TABLE effects (migration text NOT NULL);",
    };
    for (let i = 2; i <= 6; i++) files[`000${i}_effect.sql`] = `INSERT INTO effects VALUES ('000${i}');`;
    const dir = await folder(files);
    const instances = Array.from({ length: 5 }, () => connect(url, 1));
    const holder = connect(url, 1);
    const lock = await holder.pool.connect();
    try {
      await lock.query("SELECT pg_advisory_lock($1::bigint)", [migrationLockKey().toString()]);
      const runs = instances.map((db) => db.migrate({ directory: pathToFileURL(`${dir}/`) }));
      await waitFor(async () => {
        const { rows } = await lock.query(
          `SELECT count(*)::int AS n FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        return rows[0].n === 5;
      });
      await lock.query("SELECT pg_advisory_unlock($1::bigint)", [migrationLockKey().toString()]);
      const results = await Promise.all(runs);
      const applied = results.flatMap((r) => r.applied).sort();
      expect(applied).toEqual(Object.keys(files).sort());
      for (const r of results) expect(r.skipped + r.applied.length).toBe(6);
    } finally {
      lock.release();
    }
    const effects = await holder.query(
      "SELECT migration, count(*)::int AS n FROM effects GROUP BY 1 ORDER BY 1",
    );
    expect(effects.rows).toEqual(
      ["0002", "0003", "0004", "0005", "0006"].map((migration) => ({ migration, n: 1 })),
    );
    expect((await holder.query("SELECT count(*)::int AS n FROM flotilla_migrations")).rows[0]!.n).toBe(6);
  });

  it("takes a schema-qualified table, and lifts the pool's statement timeout for migrations", async () => {
    const url = await freshDatabase();
    const db = connect(url);
    const hurried = database({ url, max: 1, statementTimeout: 50, logger: silent });
    open.push(hurried);
    const dir = await folder({ "0001_slow.sql": "SELECT pg_sleep(0.3);" });
    expect((await rejection(hurried.query("SELECT pg_sleep(0.3)"))).code).toBe("57014");
    expect(await hurried.migrate({ directory: dir, table: "ops.schema_history" })).toEqual({
      applied: ["0001_slow.sql"],
      skipped: 0,
    });
    expect((await db.query("SELECT name FROM ops.schema_history")).rows).toEqual([{ name: "0001_slow.sql" }]);
    // The one connection went back to the pool with its own timeout.
    expect((await hurried.query("SHOW statement_timeout")).rows).toEqual([{ statement_timeout: "50ms" }]);
    expect((await db.query("SELECT to_regclass('flotilla_migrations') AS t")).rows[0]!.t).toBeNull();
  });

  it("refuses a badly named file, duplicate versions and a missing folder before touching the database", async () => {
    const db = connect(await freshDatabase());
    const badName = await folder({ "0001_ok.sql": "SELECT 1;", "add users.sql": "SELECT 2;" });
    const error = await rejection(db.migrate({ directory: badName }));
    expect(error).toBeInstanceOf(MigrationSourceError);
    expect(error.message).toContain("migration file add users.sql");
    const duplicate = await folder({ "0001_a.sql": "SELECT 1;", "1_b.sql": "SELECT 2;" });
    expect((await rejection(db.migrate({ directory: duplicate }))).message).toBe(
      `migration files 0001_a.sql and 1_b.sql in ${duplicate} have the same version 1`,
    );
    const missing = join(badName, "nope");
    expect((await rejection(db.migrate({ directory: missing }))).message).toMatch(
      new RegExp(`^cannot read the migrations folder ${missing}: ENOENT`),
    );
    expect((await db.query("SELECT to_regclass('flotilla_migrations') AS t")).rows[0]!.t).toBeNull();
  });
});

/** Polls `condition` (a fact about other connections) until it holds, failing after 10 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met within 10 s");
    await new Promise((resolve) => setImmediate(resolve));
  }
}
