// The benchmark's three-step order saga (payment → inventory → shipping, compensations refund →
// release) with in-process participants: each keeps a ledger in a schema of its own in the
// benchmark's database, keyed by the call's idempotency key, and applies each call once with ONE
// autocommit statement (`INSERT … ON CONFLICT (key) … RETURNING`: a repeated key returns the first
// row), as a participant whose effect is one row can. (`oncePerKey` does the same for effects of
// any shape, at 7 statements per call.) No artificial latency.
import { defineSaga } from "@flotilla/saga";
import type pg from "pg";
import { z } from "zod";

const participants = ["payments", "inventory", "shipping"] as const;
type Participant = (typeof participants)[number];

/** Creates the participants' schemas and ledgers (idempotent). */
export async function installParticipants(pool: pg.Pool): Promise<void> {
  for (const name of participants) {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${name}"`);
    await pool.query(
      `CREATE TABLE IF NOT EXISTS "${name}".ledger (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key text NOT NULL UNIQUE, saga_id uuid NOT NULL, kind text NOT NULL, amount integer NOT NULL)`,
    );
  }
}

/** The order saga over `pool`'s participants. */
export function benchOrderSaga(pool: pg.Pool) {
  const apply = async (
    participant: Participant,
    key: string,
    sagaId: string,
    kind: string,
    amount: number,
  ) => {
    const { rows } = await pool.query<{ id: string }>({
      name: `bench_apply_${participant}`,
      text: `INSERT INTO "${participant}".ledger (key, saga_id, kind, amount) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key RETURNING id`,
      values: [key, sagaId, kind, amount],
    });
    return { id: String(rows[0]?.id) };
  };
  return defineSaga({
    type: "bench.order",
    input: z.object({ orderId: z.string(), amount: z.number().int().positive() }),
  })
    .step("payment", {
      invoke: (ctx) => apply("payments", ctx.idempotencyKey, ctx.sagaId, "charge", ctx.input.amount),
      compensate: (ctx) => apply("payments", ctx.idempotencyKey, ctx.sagaId, "refund", ctx.input.amount),
    })
    .step("inventory", {
      invoke: (ctx) => apply("inventory", ctx.idempotencyKey, ctx.sagaId, "reserve", 1),
      compensate: (ctx) => apply("inventory", ctx.idempotencyKey, ctx.sagaId, "release", 1),
    })
    .step("shipping", {
      invoke: (ctx) => apply("shipping", ctx.idempotencyKey, ctx.sagaId, "ship", 1),
    })
    .build();
}
