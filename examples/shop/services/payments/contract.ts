import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

/** A charge as payments records it. */
export const charge = z.object({
  chargeId: z.string(),
  orderId: z.string(),
  amountCents: z.number().int(),
  status: z.enum(["captured", "refunded"]),
});

/**
 * The payments service: charges and refunds against a simulated provider. They are POSTs, so the
 * framework's idempotency keys make a retried call (same `Idempotency-Key`) apply once.
 */
export const payments = defineContract({
  name: "payments",
  version: "1.0.0",
  routes: {
    charge: route({
      method: "POST",
      path: "/charges",
      body: z.object({
        orderId: z.string().min(1),
        amountCents: z.number().int().positive(),
        /** A demo payment token; `tok_declined` is always declined. */
        paymentMethod: z.string().min(1),
      }),
      response: charge,
      status: 201,
      summary:
        "Charges an order. 402 PAYMENTS_DECLINED for a declined card; 409 PAYMENTS_ORDER_CLOSED once the " +
        "order was refunded as a whole; 503 when the provider fails.",
    }),
    refund: route({
      method: "POST",
      path: "/refunds",
      body: z.object({ chargeId: z.uuid() }),
      response: charge,
      summary: "Refunds a charge; refunding a refunded charge answers it as it is.",
    }),
    refundOrder: route({
      method: "POST",
      path: "/orders/:orderId/refund",
      params: z.object({ orderId: z.string().min(1) }),
      response: z.object({ orderId: z.string(), charges: z.array(charge) }),
      summary:
        "Refunds every captured charge of the order and closes the order to charges: a charge of it " +
        "arriving later is refused (409 PAYMENTS_ORDER_CLOSED). With no charge it answers `charges: []`; " +
        "refunding twice changes nothing. What a compensation calls when it does not know whether the charge happened.",
    }),
    chargesOfOrder: route({
      method: "GET",
      path: "/orders/:orderId/charges",
      params: z.object({ orderId: z.string().min(1) }),
      response: z.object({ charges: z.array(charge) }),
    }),
  },
});
