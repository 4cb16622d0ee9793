// The inbox table against the shared PostgreSQL: install, record, forget, sweep.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inbox } from "../src/inbox/inbox.js";
import { consumerTestPool, consumerTestSchema, dropConsumerTestSchema } from "./fixtures/consumer-test-db.js";

describe("inbox on PostgreSQL", () => {
  let pool: pg.Pool;
  const schema = consumerTestSchema();
  const box = inbox({ schema, table: "received" });

  beforeAll(() => {
    pool = consumerTestPool();
  });
  afterAll(async () => {
    await dropConsumerTestSchema(pool, schema);
    await pool.end();
  });

  it("installs idempotently, also when several instances install at once", async () => {
    await Promise.all([box.install(pool), box.install(pool), box.install(pool)]);
    await box.install(pool);
    const { rows } = await pool.query(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'received' ORDER BY ordinal_position",
      [schema],
    );
    expect(rows).toEqual([
      { column_name: "consumer", data_type: "text" },
      { column_name: "message_id", data_type: "text" },
      { column_name: "received_at", data_type: "timestamp with time zone" },
    ]);
    expect(box.table).toBe(`"${schema}"."received"`);
  });

  it("returns only the ids that are new for the consumer, once each", async () => {
    await box.install(pool);
    expect([...(await box.record(pool, "billing", ["a", "b", "a"]))].sort()).toEqual(["a", "b"]);
    expect([...(await box.record(pool, "billing", ["b", "c"]))]).toEqual(["c"]);
    expect([...(await box.record(pool, "shipping", ["a"]))]).toEqual(["a"]);
    expect(await box.record(pool, "billing", [])).toEqual(new Set());
    await box.forget(pool, "billing", ["a", "zz"]);
    expect([...(await box.record(pool, "billing", ["a", "b"]))]).toEqual(["a"]);
  });

  it("makes a concurrent transaction recording the same id wait for the first one's outcome", async () => {
    await box.install(pool);
    const first = await pool.connect();
    const second = await pool.connect();
    try {
      await first.query("BEGIN");
      await second.query("BEGIN");
      expect([...(await box.record(first, "race", ["m-1"]))]).toEqual(["m-1"]);
      const waiting = box.record(second, "race", ["m-1"]);
      await first.query("ROLLBACK");
      expect([...(await waiting)]).toEqual(["m-1"]);
      await second.query("COMMIT");
      await first.query("BEGIN");
      await second.query("BEGIN");
      expect([...(await box.record(first, "race", ["m-2"]))]).toEqual(["m-2"]);
      const blocked = box.record(second, "race", ["m-2"]);
      await first.query("COMMIT");
      expect([...(await blocked)]).toEqual([]);
      await second.query("COMMIT");
    } finally {
      first.release();
      second.release();
    }
  });

  it("sweeps the records older than the retention and counts them", async () => {
    await box.install(pool);
    await box.record(pool, "sweep", ["old-1", "old-2", "new-1"]);
    await pool.query(
      `UPDATE ${box.table} SET received_at = now() - interval '8 days' WHERE consumer = 'sweep' AND message_id LIKE 'old-%'`,
    );
    expect(await box.sweep(pool, "7d")).toBe(2);
    const { rows } = await pool.query(`SELECT message_id FROM ${box.table} WHERE consumer = 'sweep'`);
    expect(rows).toEqual([{ message_id: "new-1" }]);
    expect(await box.sweep(pool, 60_000)).toBe(0);
    await expect(box.sweep(pool, "soon")).rejects.toMatchObject({ code: "FLT_MESSAGING_CONFIG_INVALID" });
  });

  it("rejects names that are not plain SQL identifiers", () => {
    expect(() => inbox({ schema: 'x"; DROP TABLE y; --' })).toThrowError(/schema: must be a SQL identifier/);
  });
});
