import { defineService, problem } from "@flotilla/service";
import type { ShopService } from "../../lib/shop-service.ts";
import { shipping } from "./contract.ts";

interface ShipmentRow extends Record<string, unknown> {
  shipmentId: string;
  orderId: string;
  status: "scheduled" | "cancelled";
}

const returning = `RETURNING id::text AS "shipmentId", order_id AS "orderId", status`;

/** The shipping service: one row per scheduled delivery. */
export function shippingShopService(): ShopService {
  const service = defineService({
    contract: shipping,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    handlers: {
      async schedule({ body }, ctx) {
        const { rows } = await ctx.db.query<ShipmentRow>(
          `INSERT INTO shipments (order_id, reservation_id, status) VALUES ($1, $2, 'scheduled') ${returning}`,
          [body.orderId, body.reservationId],
        );
        return rows[0]!;
      },
      async cancel({ params }, ctx) {
        const { rows } = await ctx.db.query<ShipmentRow>(
          `UPDATE shipments SET status = 'cancelled' WHERE id = $1 ${returning}`,
          [params.id],
        );
        if (rows[0] === undefined)
          throw problem(404, `no shipment ${params.id}`, { code: "SHIPPING_NOT_FOUND" });
        return rows[0];
      },
    },
  });
  return { service, defaults: {}, hooks: {} };
}
