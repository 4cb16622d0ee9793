import { defineService, problem } from "@flotilla/service";
import type { ShopService } from "../../lib/shop-service.ts";
import { type SimulatedFaults, simulateCall } from "../../lib/simulated-latency.ts";
import { payments } from "./contract.ts";

interface ChargeRow extends Record<string, unknown> {
  chargeId: string;
  orderId: string;
  amountCents: number;
  status: "captured" | "refunded";
}

const returning = `RETURNING id::text AS "chargeId", order_id AS "orderId", amount_cents AS "amountCents", status`;

/** Options of {@link paymentsShopService}: how the simulated card provider misbehaves. */
export interface PaymentsOptions {
  readonly provider?: SimulatedFaults;
}

/**
 * The payments service. Every charge and refund goes through the simulated provider first (its
 * latency and failure rate); a provider failure is a 503, which frees the idempotency key so the
 * caller's retry runs again, while a decline is a 402 that is stored and replayed.
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
        const { rows } = await ctx.db.query<ChargeRow>(
          `INSERT INTO charges (order_id, amount_cents, status) VALUES ($1, $2, 'captured') ${returning}`,
          [body.orderId, body.amountCents],
        );
        ctx.logger.info({ orderId: body.orderId, amountCents: body.amountCents }, "charged");
        return rows[0]!;
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
      async chargesOfOrder({ params }, ctx) {
        const { rows } = await ctx.db.query<ChargeRow>(
          `SELECT id::text AS "chargeId", order_id AS "orderId", amount_cents AS "amountCents", status
             FROM charges WHERE order_id = $1 ORDER BY created_at`,
          [params.orderId],
        );
        return { charges: rows };
      },
    },
  });
  return { service, defaults: {}, hooks: {} };
}
