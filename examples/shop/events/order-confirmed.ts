import { defineEvent } from "@flotilla/messaging";
import { z } from "zod";

/** Published by orders when the order saga completed: paid, reserved, shipment scheduled. */
export const orderConfirmed = defineEvent({
  type: "shop.order.confirmed",
  topic: "order.confirmed",
  schema: z.object({
    orderId: z.string(),
    userId: z.string(),
    totalCents: z.number().int().nonnegative(),
    shipmentId: z.string(),
  }),
});
