// The event every messaging benchmark sends: a placed order, about 200 bytes as JSON.
import { defineEvent } from "@flotilla/messaging";
import { z } from "zod";

export const orderPlaced = defineEvent({
  type: "shop.order-placed",
  schema: z.object({ orderId: z.string(), customerId: z.string(), total: z.number(), lines: z.number() }),
});
