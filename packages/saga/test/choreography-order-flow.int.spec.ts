// The choreographed order flow on the real PostgreSQL, on the memory and the PostgreSQL
// transports, with every message published twice: participants' ledgers keep the saga invariant
// (charges − refunds = total of confirmed orders), each event's effect happens once, and the
// tracker reports each order's state.
import {
  type MemoryTransport,
  memoryTransport,
  type PostgresTransport,
  postgresTransport,
  type Transport,
} from "@flotilla/messaging";
import type pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { SagaState } from "../src/saga-state.js";
import { duplicatingTransport } from "./fixtures/choreography-duplicating-transport.js";
import {
  type OrderFlow,
  orderCancelled,
  orderConfirmed,
  orderPlaced,
  outOfStock,
  paymentCharged,
  paymentRefunded,
  shipmentScheduled,
  startOrderFlow,
  stockReservationFailed,
  stockReserved,
} from "./fixtures/choreography-order-flow.js";
import { pgUrl, testPool, testSchema, waitFor } from "./fixtures/participant-test-db.js";

interface Bed {
  readonly pool: pg.Pool;
  readonly transport: Transport & { readonly duplicates: () => number };
  readonly flow: OrderFlow;
  close(): Promise<void>;
}

const transports: Record<
  string,
  (pool: pg.Pool, schema: string) => Promise<MemoryTransport | PostgresTransport>
> = {
  memory: async () => memoryTransport(),
  postgres: (_pool, schema) => postgresTransport({ url: pgUrl, schema, pollInterval: "200ms" }),
};

describe.each(Object.keys(transports))("choreographed order flow on the %s transport", (kind) => {
  const beds: Bed[] = [];

  afterEach(async () => {
    for (const bed of beds.splice(0)) await bed.close();
  });

  async function bed(): Promise<Bed> {
    const pool = testPool(24);
    const prefix = testSchema("saga_chor");
    const busSchema = `${prefix}_bus`;
    const inner = await transports[kind]!(pool, busSchema);
    const transport = duplicatingTransport(inner);
    const flow = await startOrderFlow(pool, transport, prefix);
    const started: Bed = {
      pool,
      transport,
      flow,
      async close() {
        await flow.close();
        await inner.close();
        await pool.query(`DROP SCHEMA IF EXISTS "${busSchema}" CASCADE`);
        await pool.end();
      },
    };
    beds.push(started);
    return started;
  }

  async function sum(pool: pg.Pool, sql: string): Promise<number> {
    const { rows } = await pool.query(sql);
    return Number(rows[0].n ?? 0);
  }

  it("confirms in-stock orders, compensates out-of-stock ones, keeps the ledger invariant and tracks every order", async () => {
    const { pool, transport, flow } = await bed();
    const [orders, payments, inventory, shipping] = flow.schemas;
    const placed = Array.from({ length: 16 }, (_, i) => ({
      orderId: `order-${i}`,
      total: 10 + i,
      sku: i % 4 === 3 ? outOfStock : "ABC-1",
    }));
    await Promise.all(placed.map((order) => flow.placeOrder(order.orderId, order.total, order.sku)));
    const confirmedIds = placed.filter((order) => order.sku !== outOfStock).map((order) => order.orderId);
    const cancelledIds = placed.filter((order) => order.sku === outOfStock).map((order) => order.orderId);

    await waitFor(
      "every order to end in the tracker",
      async () => {
        const ended = await flow.tracker.list({
          state: [SagaState.Completed, SagaState.Compensated],
          limit: 100,
        });
        return ended.length === placed.length;
      },
      20_000,
    );
    await waitFor("every order row to be settled", async () => {
      const open = await sum(pool, `SELECT count(*) AS n FROM "${orders}".orders WHERE status = 'placed'`);
      return open === 0;
    });

    const charges = await sum(
      pool,
      `SELECT sum(amount) AS n FROM "${payments}".ledger WHERE kind = 'charge'`,
    );
    const refunds = await sum(
      pool,
      `SELECT sum(amount) AS n FROM "${payments}".ledger WHERE kind = 'refund'`,
    );
    const confirmedTotal = await sum(
      pool,
      `SELECT sum(total) AS n FROM "${orders}".orders WHERE status = 'confirmed'`,
    );
    expect(charges - refunds).toBe(confirmedTotal);
    expect(confirmedTotal).toBe(
      placed.filter((order) => order.sku !== outOfStock).reduce((total, order) => total + order.total, 0),
    );
    expect(transport.duplicates()).toBeGreaterThan(0);

    // Every event's effect exactly once although each was delivered twice.
    const perOrder = async (sql: string) =>
      (await pool.query(sql)).rows.map((row: { order_id: string; n: number }) => [row.order_id, row.n]);
    const once = (ids: readonly string[]) => ids.map((id) => [id, 1]).sort();
    expect(
      (
        await perOrder(
          `SELECT order_id, count(*)::int AS n FROM "${payments}".ledger WHERE kind = 'charge' GROUP BY 1`,
        )
      ).sort(),
    ).toEqual(once(placed.map((order) => order.orderId)));
    expect(
      (
        await perOrder(
          `SELECT order_id, count(*)::int AS n FROM "${payments}".ledger WHERE kind = 'refund' GROUP BY 1`,
        )
      ).sort(),
    ).toEqual(once(cancelledIds));
    expect(
      (
        await perOrder(`SELECT order_id, count(*)::int AS n FROM "${inventory}".reservations GROUP BY 1`)
      ).sort(),
    ).toEqual(once(confirmedIds));
    expect(
      (await perOrder(`SELECT order_id, count(*)::int AS n FROM "${shipping}".shipments GROUP BY 1`)).sort(),
    ).toEqual(once(confirmedIds));

    const confirmed = await flow.tracker.get(confirmedIds[0]!);
    expect(confirmed).toMatchObject({
      id: confirmedIds[0],
      style: "choreography",
      type: "order-fulfilment",
      state: SagaState.Completed,
      correlationId: confirmedIds[0],
      error: null,
    });
    expect(confirmed!.endedAt).not.toBeNull();
    expect(confirmed!.steps.map((step) => step.step).sort()).toEqual(
      [orderPlaced, paymentCharged, stockReserved, shipmentScheduled, orderConfirmed]
        .map((e) => e.type)
        .sort(),
    );
    expect(new Set(confirmed!.steps.map((step) => step.eventId)).size).toBe(5);

    const cancelled = await flow.tracker.get(cancelledIds[0]!);
    expect(cancelled).toMatchObject({ state: SagaState.Compensated, error: stockReservationFailed.type });
    expect(cancelled!.steps.map((step) => [step.step, step.role]).sort()).toEqual(
      [
        [orderPlaced.type, "start"],
        [paymentCharged.type, "step"],
        [stockReservationFailed.type, "compensating"],
        [paymentRefunded.type, "compensating"],
        [orderCancelled.type, "compensated"],
      ].sort(),
    );

    const compensated = await flow.tracker.list({ state: SagaState.Compensated, limit: 100 });
    expect(compensated.map((view) => view.id).sort()).toEqual([...cancelledIds].sort());
    expect(await flow.tracker.list({ failedOnly: true })).toEqual([]);
    expect(await flow.tracker.list({ type: "something-else" })).toEqual([]);
    expect(await flow.tracker.get("no-such-order")).toBeUndefined();
  });
});
