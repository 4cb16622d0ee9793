import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

const reservation = z.object({ reservationId: z.string(), status: z.enum(["reserved", "released"]) });

/** The inventory service: stock per product, reserved and released per order. */
export const inventory = defineContract({
  name: "inventory",
  version: "1.0.0",
  routes: {
    reserve: route({
      method: "POST",
      path: "/reservations",
      body: z.object({
        orderId: z.string().min(1),
        items: z.array(z.object({ sku: z.string().min(1), quantity: z.number().int().positive() })).min(1),
      }),
      response: reservation,
      status: 201,
      summary: "Reserves every item or none: 409 INVENTORY_OUT_OF_STOCK names the first short SKU.",
    }),
    release: route({
      method: "POST",
      path: "/reservations/:id/release",
      params: z.object({ id: z.uuid() }),
      response: reservation,
      summary: "Puts a reservation's stock back; releasing twice changes nothing.",
    }),
    stock: route({
      method: "GET",
      path: "/stock/:sku",
      params: z.object({ sku: z.string().min(1) }),
      response: z.object({ sku: z.string(), available: z.number().int() }),
    }),
  },
});
