import { setTimeout as delay } from "node:timers/promises";
import { defineService, problem } from "@flotilla/service";
import type pg from "pg";
import type { ShopService } from "../../lib/shop-service.ts";
import { type SimulatedFaults, simulateCall } from "../../lib/simulated-latency.ts";
import { payments } from "./contract.ts";

interface ChargeRow extends Record<string, unknown> {
  chargeId: string;
  orderId: string;
  amountCents: number;
  status: "captured" | "refunded";
}

const chargeColumns = `id::text AS "chargeId", order_id AS "orderId", amount_cents AS "amountCents", status`;
const returning = `RETURNING ${chargeColumns}`;

/** Options of {@link paymentsShopService}: how the simulated card provider and the network misbehave. */
export interface PaymentsOptions {
  readonly provider?: SimulatedFaults;
  /**
   * How long the answer of a recorded charge takes to leave, in milliseconds, read at every charge
   * (a test may change it): a slow network after the charge. Past the caller's timeout the charge
   * has happened but the caller cannot know it. Not cut short when the caller goes away, and does
   * not keep a stopping process alive. Default 0.
   */
  readonly answerDelay?: { readonly ms: number };
}

/**
 * Serialises the charges and the whole-order refund of one order (a transaction-scoped advisory
 * lock), so that a charge either commits before the refund sees it or sees the order closed.
 */
async function lockOrder(tx: pg.ClientBase, orderId: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`payments:order:${orderId}`]);
}

/**
 * The payments service. Every charge and refund goes through the simulated provider first (its
 * latency and failure rate); a provider failure is a 503, which frees the idempotency key so the
 * caller's retry runs again, while a decline is a 402 that is stored and replayed. `refundOrder`
 * refunds by order and closes it, for a compensation that does not know whether its charge happened.
 */
export function paymentsShopService(options: PaymentsOptions = {}): ShopService {
  const provider = options.provider ?? {};
  const callProvider = async (signal: AbortSignal): Promise<void> => {
    if (await simulateCall(provider, signal)) {
      throw problem(503, "the card provider is unavailable", { code: "PAYMENTS_PROVIDER_UNAVAILABLE" });
    }
  };
  const service = defineService({
    contract: payments,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    handlers: {
      async charge({ body }, ctx) {
        await callProvider(ctx.signal);
        if (body.paymentMethod === "tok_declined") {
          throw problem(402, "the card was declined", { code: "PAYMENTS_DECLINED" });
        }
        const charged = await ctx.db.transaction(async (tx) => {
          await lockOrder(tx, body.orderId);
          const closed = await tx.query("SELECT 1 FROM closed_orders WHERE order_id = $1", [body.orderId]);
          if (closed.rows.length > 0) {
            throw problem(409, `order ${body.orderId} was refunded and takes no more charges`, {
              code: "PAYMENTS_ORDER_CLOSED",
            });
          }
          const { rows } = await tx.query<ChargeRow>(
            `INSERT INTO charges (order_id, amount_cents, status) VALUES ($1, $2, 'captured') ${returning}`,
            [body.orderId, body.amountCents],
          );
          return rows[0]!;
        });
        ctx.logger.info({ orderId: body.orderId, amountCents: body.amountCents }, "charged");
        const answerDelayMs = options.answerDelay?.ms ?? 0;
        if (answerDelayMs > 0) await delay(answerDelayMs, undefined, { ref: false });
        return charged;
      },
      async refund({ body }, ctx) {
        await callProvider(ctx.signal);
        const { rows } = await ctx.db.query<ChargeRow>(
          `UPDATE charges SET status = 'refunded', refunded_at = coalesce(refunded_at, now())
            WHERE id = $1 ${returning}`,
          [body.chargeId],
        );
        if (rows[0] === undefined)
          throw problem(404, `no charge ${body.chargeId}`, { code: "PAYMENTS_NOT_FOUND" });
        ctx.logger.info({ chargeId: body.chargeId }, "refunded");
        return rows[0];
      },
      async refundOrder({ params }, ctx) {
        await callProvider(ctx.signal);
        const charges = await ctx.db.transaction(async (tx) => {
          await lockOrder(tx, params.orderId);
          await tx.query("INSERT INTO closed_orders (order_id) VALUES ($1) ON CONFLICT DO NOTHING", [
            params.orderId,
          ]);
          await tx.query(
            `UPDATE charges SET status = 'refunded', refunded_at = now()
              WHERE order_id = $1 AND status = 'captured'`,
            [params.orderId],
          );
          const { rows } = await tx.query<ChargeRow>(
            `SELECT ${chargeColumns} FROM charges WHERE order_id = $1 ORDER BY created_at`,
            [params.orderId],
          );
          return rows;
        });
        ctx.logger.info({ orderId: params.orderId, charges: charges.length }, "order refunded and closed");
        return { orderId: params.orderId, charges };
      },
      async chargesOfOrder({ params }, ctx) {
        const { rows } = await ctx.db.query<ChargeRow>(
          `SELECT ${chargeColumns} FROM charges WHERE order_id = $1 ORDER BY created_at`,
          [params.orderId],
        );
        return { charges: rows };
      },
    },
  });
  return { service, defaults: {}, hooks: {} };
}
