import { defineEvent } from "@flotilla/messaging";
import { z } from "zod";

/** Published by orders when the order saga was compensated (declined card, no stock, …). */
export const orderCancelled = defineEvent({
  type: "shop.order.cancelled",
  topic: "order.cancelled",
  schema: z.object({ orderId: z.string(), userId: z.string(), reason: z.string() }),
});
