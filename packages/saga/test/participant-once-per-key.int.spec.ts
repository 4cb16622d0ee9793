// oncePerKey against the real PostgreSQL: a repeated key returns the first result without
// running again, a failing fn leaves the key unclaimed, concurrent duplicates run once.
import type pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { oncePerKey } from "../src/participant/once-per-key.js";
import { type ParticipantTables, participantTables } from "../src/participant/participant-tables.js";
import { sagaStepKey } from "../src/saga-step-key.js";
import { testPool, testSchema, waitFor, waitForLockWait } from "./fixtures/participant-test-db.js";

const pool = testPool();
const schema = testSchema("saga_once");
let tables: ParticipantTables;
const clients: pg.PoolClient[] = [];

async function begin(): Promise<pg.PoolClient> {
  const client = await pool.connect();
  clients.push(client);
  await client.query("BEGIN");
  return client;
}

async function inTransaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const tx = await begin();
  try {
    const result = await fn(tx);
    await tx.query("COMMIT");
    return result;
  } catch (error) {
    await tx.query("ROLLBACK");
    throw error;
  }
}

beforeAll(async () => {
  tables = participantTables({ schema });
  await Promise.all([tables.install(pool), tables.install(pool)]);
  await pool.query(`CREATE TABLE "${schema}".charges (key text, amount int)`);
});
afterEach(async () => {
  // Destroyed, not returned: a failed test may leave a client mid-transaction or mid-query.
  for (const client of clients.splice(0)) client.release(true);
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
});

const charge = (tx: pg.PoolClient, key: string, amount: number) => async () => {
  await tx.query(`INSERT INTO "${schema}".charges VALUES ($1, $2)`, [key, amount]);
  return { chargeId: `c-${amount}`, at: new Date(0) };
};

async function charges(key: string): Promise<number> {
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".charges WHERE key = $1`, [
    key,
  ]);
  return rows[0].n;
}

describe("oncePerKey", () => {
  it("runs fn once per key and returns the first result to a repeat", async () => {
    const key = sagaStepKey("s-1", "payment", "invoke");
    const first = await inTransaction((tx) => oncePerKey(tx, key, charge(tx, key, 10), { tables }));
    expect(first).toEqual({ chargeId: "c-10", at: new Date(0) });
    const again = await inTransaction((tx) => oncePerKey(tx, key, charge(tx, key, 99), { tables }));
    expect(again).toEqual({ chargeId: "c-10", at: new Date(0).toISOString() });
    expect(await charges(key)).toBe(1);
    const compensation = sagaStepKey("s-1", "payment", "compensate");
    expect(await inTransaction((tx) => oncePerKey(tx, compensation, async () => undefined, { tables }))).toBe(
      undefined,
    );
    expect(await inTransaction((tx) => oncePerKey(tx, compensation, async () => "ran", { tables }))).toBe(
      undefined,
    );
  });

  it("forgets the key when fn throws, so that a retry runs it, and the caller's transaction carries on", async () => {
    const key = sagaStepKey("s-2", "payment", "invoke");
    await inTransaction(async (tx) => {
      await expect(
        oncePerKey(
          tx,
          key,
          async () => {
            await tx.query(`INSERT INTO "${schema}".charges VALUES ($1, 1)`, [key]);
            throw new Error("card declined");
          },
          { tables },
        ),
      ).rejects.toThrow("card declined");
      await tx.query(`INSERT INTO "${schema}".charges VALUES ($1, 2)`, [`${key}:other`]);
    });
    expect(await charges(key)).toBe(0);
    expect(await charges(`${key}:other`)).toBe(1);
    expect(await inTransaction((tx) => oncePerKey(tx, key, charge(tx, key, 3), { tables }))).toMatchObject({
      chargeId: "c-3",
    });
    expect(await charges(key)).toBe(1);
  });

  it("runs fn once when two transactions bring the same key at once; the second waits and gets the first result", async () => {
    const key = sagaStepKey("s-3", "payment", "invoke");
    const a = await begin();
    const b = await begin();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let ran = 0;
    const first = oncePerKey(
      a,
      key,
      async () => {
        ran++;
        await held;
        return "first";
      },
      { tables },
    );
    // The first transaction must hold the claim before the second asks for it.
    await waitFor("the first transaction to claim the key", () => ran === 1);
    const pidB = (await b.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
    const second = oncePerKey(
      b,
      key,
      async () => {
        ran++;
        return "second";
      },
      { tables },
    );
    await waitForLockWait(pool, pidB);
    release();
    expect(await first).toBe("first");
    await a.query("COMMIT");
    expect(await second).toBe("first");
    await b.query("COMMIT");
    expect(ran).toBe(1);
  });

  it("lets the waiting duplicate run fn when the first transaction rolls back", async () => {
    const key = sagaStepKey("s-4", "payment", "invoke");
    const a = await begin();
    const b = await begin();
    expect(await oncePerKey(a, key, async () => "a", { tables })).toBe("a");
    const pidB = (await b.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
    const second = oncePerKey(b, key, async () => "b", { tables });
    await waitForLockWait(pool, pidB);
    await a.query("ROLLBACK");
    expect(await second).toBe("b");
    await b.query("COMMIT");
  });

  it("refuses an empty key and a result that is not JSON", async () => {
    await inTransaction(async (tx) => {
      await expect(oncePerKey(tx, "", async () => 1, { tables })).rejects.toMatchObject({
        code: "FLT_SAGA_OPTIONS_INVALID",
      });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(oncePerKey(tx, "k-cyclic", async () => cyclic, { tables })).rejects.toMatchObject({
        code: "FLT_SAGA_RESULT_INVALID",
      });
    });
    expect(
      (await pool.query(`SELECT count(*)::int AS n FROM ${tables.keys} WHERE key = 'k-cyclic'`)).rows[0].n,
    ).toBe(0);
  });

  it("refuses table names that are not SQL identifiers, naming the option", () => {
    expect(() => participantTables({ schema: 'x"; DROP' })).toThrow(
      /schema: must be a lower-case SQL identifier/,
    );
    expect(() => participantTables({ replies: "same", keys: "same" })).toThrow(/keys: must differ/);
  });
});
