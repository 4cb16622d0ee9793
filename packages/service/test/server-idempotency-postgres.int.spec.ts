import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defineService } from "../src/server/define-service.js";
import type { IdempotencyStore } from "../src/server/idempotency/idempotency-store.js";
import {
  type PostgresIdempotencyStore,
  postgresIdempotencyStore,
} from "../src/server/idempotency/postgres-idempotency-store.js";
import { type ServiceServer, serviceServer } from "../src/server/service-server.js";
import { idempotencyStoreContract } from "./fixtures/idempotency-store-contract.js";
import { inventory, testLogger, testMetrics } from "./fixtures/inventory-service.js";

const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres", max: 4 });
const schemas: string[] = [];
const stores: IdempotencyStore[] = [];

/** A store in a schema of its own, dropped after the test. */
async function freshStore(): Promise<PostgresIdempotencyStore> {
  const schema = `flt_idem_${randomBytes(4).toString("hex")}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  const store = await postgresIdempotencyStore({ db: pool, table: `${schema}.idempotency` });
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const schema of schemas.splice(0)) await pool.query(`DROP SCHEMA ${schema} CASCADE`);
});
afterAll(() => pool.end());

idempotencyStoreContract("postgres store", freshStore);

describe("postgres idempotency store", () => {
  it("creates its table once even when instances start together", async () => {
    const schema = `flt_idem_${randomBytes(4).toString("hex")}`;
    await pool.query(`CREATE SCHEMA ${schema}`);
    schemas.push(schema);
    const many = await Promise.all(
      Array.from({ length: 4 }, () => postgresIdempotencyStore({ db: pool, table: `${schema}.keys` })),
    );
    stores.push(...many);
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1",
      [schema],
    );
    expect(rows[0].n).toBe(1);
  });

  it("sweeps expired keys", async () => {
    const store = await freshStore();
    const gone = await store.begin("r", "old", "f", { windowMs: 0, lockMs: 0 });
    const kept = await store.begin("r", "new", "f", { windowMs: 60_000, lockMs: 60_000 });
    expect([gone.outcome, kept.outcome]).toEqual(["started", "started"]);
    expect(await store.sweep()).toBe(1);
    const { rows } = await pool.query(`SELECT key FROM ${store.table}`);
    expect(rows).toEqual([{ key: "new" }]);
  });

  it("refuses a table name that is not a plain identifier", async () => {
    await expect(postgresIdempotencyStore({ db: pool, table: 'x"; DROP TABLE y; --' })).rejects.toMatchObject(
      {
        code: "FLT_CONFIG_INVALID",
        issues: [{ path: "table", message: expect.stringContaining("lower-case") }],
      },
    );
  });
});

describe("idempotency across two instances sharing the postgres store", () => {
  const servers: ServiceServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  async function twoInstances() {
    const store = await freshStore();
    let applied = 0;
    let release: (() => void) | undefined;
    let entered: (() => void) | undefined;
    const make = () =>
      serviceServer(
        defineService({
          contract: inventory,
          handlers: {
            async reserve({ params, body }) {
              applied++;
              entered?.();
              if (release !== undefined) await new Promise<void>((resolve) => (release = resolve));
              return { reservationId: `${params.sku}-${applied}`, quantity: body.quantity };
            },
            stock: async () => [],
            release: async () => undefined,
            adjust: async ({ params }) => ({ sku: params.sku, available: 0 }),
          },
        }),
        { logger: testLogger().logger, metrics: testMetrics(), idempotency: { store } },
      );
    const a = make();
    const b = make();
    servers.push(a, b);
    return {
      a,
      b,
      applied: () => applied,
      hold() {
        const inHandler = new Promise<void>((resolve) => (entered = resolve));
        release = () => {};
        return { inHandler, release: () => release?.() };
      },
    };
  }

  const post = (server: ServiceServer, key: string, quantity = 2) =>
    server.app.inject({
      method: "POST",
      url: "/reservations/ABC-1",
      headers: { "content-type": "application/json", "idempotency-key": key },
      payload: { quantity },
    });

  it("replays on instance B the answer instance A stored, and refuses another body with 422", async () => {
    const { a, b, applied } = await twoInstances();
    const first = await post(a, "order-17");
    expect(first.statusCode).toBe(201);
    const replay = await post(b, "order-17");
    expect(replay.statusCode).toBe(201);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json()).toEqual(first.json());
    expect((await post(b, "order-17", 3)).statusCode).toBe(422);
    expect(applied()).toBe(1);
  });

  it("answers 409 on B while A still runs the request", async () => {
    const { a, b, applied, hold } = await twoInstances();
    const held = hold();
    const first = post(a, "order-18");
    await held.inHandler;
    const concurrent = await post(b, "order-18");
    expect(concurrent.statusCode).toBe(409);
    expect(concurrent.json().code).toBe("FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS");
    held.release();
    expect((await first).statusCode).toBe(201);
    expect((await post(b, "order-18")).headers["idempotent-replayed"]).toBe("true");
    expect(applied()).toBe(1);
  });
});
