import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseLogger } from "../src/database/database-logger.js";
import { provisionDatabase } from "../src/database/provision-database.js";
import { servicePool } from "../src/database/service-pool.js";
import { withTransaction } from "../src/database/with-transaction.js";

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
let provisioned: { url: string; database: string; role: string };
let pool: pg.Pool;
const poolErrors: unknown[] = [];
const logger: DatabaseLogger = { info: () => {}, warn: () => {}, error: (fields) => poolErrors.push(fields) };

beforeAll(async () => {
  provisioned = await provisionDatabase({
    service: `tx_${randomBytes(4).toString("hex")}`,
    adminUrl,
    logger,
  });
  pool = servicePool({ url: provisioned.url, max: 4, logger });
  await pool.query(`
    CREATE TABLE notes (id int PRIMARY KEY, body text);
    CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL);
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
  `);
});

afterAll(async () => {
  await pool?.end();
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(provisioned.database)} WITH (FORCE)`);
  await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(provisioned.role)}`);
  await client.end();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

function expectAllReleased(): void {
  expect(pool.waitingCount).toBe(0);
  expect(pool.idleCount).toBe(pool.totalCount);
}

describe("withTransaction", () => {
  it("commits what fn did and returns its result", async () => {
    const result = await withTransaction(pool, async (client) => {
      await client.query("INSERT INTO notes VALUES (1, 'kept')");
      return "done";
    });
    expect(result).toBe("done");
    expect((await pool.query("SELECT body FROM notes WHERE id = 1")).rows).toEqual([{ body: "kept" }]);
    expectAllReleased();
  });

  it("rolls back when fn throws and rethrows fn's error unchanged", async () => {
    const boom = new Error("boom");
    const error = await rejection(
      withTransaction(pool, async (client) => {
        await client.query("INSERT INTO notes VALUES (2, 'dropped')");
        throw boom;
      }),
    );
    expect(error).toBe(boom);
    expect((await pool.query("SELECT count(*)::int AS n FROM notes WHERE id = 2")).rows[0].n).toBe(0);
    expectAllReleased();
  });

  it("runs at the isolation level and access mode asked for", async () => {
    const settings = await withTransaction(
      pool,
      async (client) =>
        (
          await client.query(
            "SELECT current_setting('transaction_isolation') AS isolation, current_setting('transaction_read_only') AS ro",
          )
        ).rows[0],
      { isolation: "repeatable read", readOnly: true },
    );
    expect(settings).toEqual({ isolation: "repeatable read", ro: "on" });
  });

  it("destroys a connection that could not be rolled back instead of returning it to the pool", async () => {
    const pids = new Set<number>();
    const error = await rejection(
      withTransaction(pool, async (client) => {
        pids.add((await client.query("SELECT pg_backend_pid() AS pid")).rows[0].pid);
        await client.query("SELECT pg_terminate_backend(pg_backend_pid())");
      }),
    );
    expect(error.code).toBe("57P01");
    expectAllReleased();
    const after = await withTransaction(
      pool,
      async (client) => (await client.query("SELECT pg_backend_pid() AS pid")).rows[0].pid,
    );
    expect(pids.has(after)).toBe(false);
    expect(poolErrors).toEqual([]);
  });

  it("retries a real serialization failure (40001) of two SERIALIZABLE transactions and stays correct", async () => {
    await pool.query("DELETE FROM doctors; INSERT INTO doctors VALUES ('alice', true), ('bob', true)");
    const read = { alice: deferred(), bob: deferred() };
    const attempts: string[] = [];
    const retried: string[] = [];
    // Each doctor goes off call only if someone else stays on call: write skew unless serializable.
    const goOffCall = (me: "alice" | "bob", other: "alice" | "bob") =>
      withTransaction(
        pool,
        async (client, attempt) => {
          attempts.push(`${me}#${attempt}`);
          const { rows } = await client.query("SELECT count(*)::int AS n FROM doctors WHERE on_call");
          if (attempt === 1) {
            read[me].resolve();
            await read[other].promise;
          }
          if (rows[0].n >= 2) await client.query("UPDATE doctors SET on_call = false WHERE name = $1", [me]);
        },
        {
          isolation: "serializable",
          retries: 3,
          onRetry: (error, attempt) => retried.push(`${me}#${attempt} ${(error as { code?: string }).code}`),
        },
      );
    await Promise.all([goOffCall("alice", "bob"), goOffCall("bob", "alice")]);
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatch(/^(alice|bob)#1 40001$/);
    expect(attempts.sort()).toEqual(
      retried[0]!.startsWith("alice") ? ["alice#1", "alice#2", "bob#1"] : ["alice#1", "bob#1", "bob#2"],
    );
    expect((await pool.query("SELECT count(*)::int AS n FROM doctors WHERE on_call")).rows[0].n).toBe(1);
    expectAllReleased();
  });

  it("without retries, the transaction that lost the serialization check rejects with 40001", async () => {
    await pool.query("DELETE FROM doctors; INSERT INTO doctors VALUES ('alice', true), ('bob', true)");
    const read = { alice: deferred(), bob: deferred() };
    const goOffCall = (me: "alice" | "bob", other: "alice" | "bob") =>
      withTransaction(
        pool,
        async (client) => {
          const { rows } = await client.query("SELECT count(*)::int AS n FROM doctors WHERE on_call");
          read[me].resolve();
          await read[other].promise;
          if (rows[0].n >= 2) await client.query("UPDATE doctors SET on_call = false WHERE name = $1", [me]);
        },
        { isolation: "serializable" },
      );
    const outcomes = await Promise.allSettled([goOffCall("alice", "bob"), goOffCall("bob", "alice")]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected")!;
    expect(failed.reason.code).toBe("40001");
    expectAllReleased();
  });

  it("retries the victim of a deadlock (40P01)", async () => {
    await pool.query("DELETE FROM accounts; INSERT INTO accounts VALUES (1, 0), (2, 0)");
    const locked = { 1: deferred(), 2: deferred() };
    const retried: string[] = [];
    const transfer = (first: 1 | 2, second: 1 | 2) =>
      withTransaction(
        pool,
        async (client, attempt) => {
          await client.query("UPDATE accounts SET balance = balance + 1 WHERE id = $1", [first]);
          if (attempt === 1) {
            locked[first].resolve();
            await locked[second].promise;
          }
          await client.query("UPDATE accounts SET balance = balance + 1 WHERE id = $1", [second]);
        },
        { retries: 5, onRetry: (error) => retried.push((error as { code?: string }).code ?? "") },
      );
    await Promise.all([transfer(1, 2), transfer(2, 1)]);
    // A victim that retries can meet the survivor again and be chosen again; each time it is a deadlock.
    expect(retried.length).toBeGreaterThanOrEqual(1);
    expect(new Set(retried)).toEqual(new Set(["40P01"]));
    expect((await pool.query("SELECT id, balance FROM accounts ORDER BY id")).rows).toEqual([
      { id: 1, balance: 2 },
      { id: 2, balance: 2 },
    ]);
    expectAllReleased();
  });

  it("does not retry other errors", async () => {
    let calls = 0;
    const error = await rejection(
      withTransaction(
        pool,
        async (client) => {
          calls++;
          await client.query("INSERT INTO notes VALUES (3, 'x'), (3, 'y')");
        },
        { retries: 5 },
      ),
    );
    expect(error.code).toBe("23505");
    expect(calls).toBe(1);
  });
});
