import { defineEvent } from "@flotilla/messaging";
import { z } from "zod";

/** Published by orders, in the transaction that stores the order and starts its saga. */
export const orderPlaced = defineEvent({
  type: "shop.order.placed",
  topic: "order.placed",
  schema: z.object({
    orderId: z.string(),
    userId: z.string(),
    totalCents: z.number().int().nonnegative(),
    items: z.array(z.object({ productId: z.string(), quantity: z.number().int().positive() })),
  }),
});
