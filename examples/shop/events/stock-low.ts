import { defineEvent } from "@flotilla/messaging";
import { z } from "zod";

/** Published by inventory when a reservation leaves a product below its restock threshold. */
export const stockLow = defineEvent({
  type: "shop.stock.low",
  topic: "stock.low",
  schema: z.object({
    sku: z.string(),
    available: z.number().int().nonnegative(),
    threshold: z.number().int(),
  }),
});
