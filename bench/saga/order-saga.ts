// The benchmark's three-step order saga (payment → inventory → shipping, compensations refund →
// release) with in-process participants: each keeps a ledger and its participant tables in a
// schema of its own in the benchmark's database and applies each call once per idempotency key
// (oncePerKey in a transaction of its own, as a participant service would). No artificial latency.
import { defineSaga, oncePerKey, type ParticipantTables, participantTables } from "@flotilla/saga";
import { withTransaction } from "@flotilla/service";
import type pg from "pg";
import { z } from "zod";

const participants = ["payments", "inventory", "shipping"] as const;
type Participant = (typeof participants)[number];

/** Creates the participants' schemas, ledgers and participant tables (idempotent). */
export async function installParticipants(pool: pg.Pool): Promise<Record<Participant, ParticipantTables>> {
  const tables = {} as Record<Participant, ParticipantTables>;
  for (const name of participants) {
    tables[name] = participantTables({ schema: name });
    await tables[name].install(pool);
    await pool.query(
      `CREATE TABLE IF NOT EXISTS "${name}".ledger (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, saga_id uuid NOT NULL, kind text NOT NULL, amount integer NOT NULL)`,
    );
  }
  return tables;
}

/** The order saga over `pool`'s participants. */
export function benchOrderSaga(pool: pg.Pool, tables: Record<Participant, ParticipantTables>) {
  const apply = (participant: Participant, key: string, sagaId: string, kind: string, amount: number) =>
    withTransaction(pool, (tx) =>
      oncePerKey(
        tx,
        key,
        async () => {
          const { rows } = await tx.query<{ id: string }>(
            `INSERT INTO "${participant}".ledger (saga_id, kind, amount) VALUES ($1, $2, $3) RETURNING id`,
            [sagaId, kind, amount],
          );
          return { id: String(rows[0]?.id) };
        },
        { tables: tables[participant] },
      ),
    );
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
