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
      summary:
        "Reserves every item or none: 409 INVENTORY_OUT_OF_STOCK names the first short SKU; 409 " +
        "INVENTORY_ORDER_RELEASED once the order was released as a whole.",
    }),
    release: route({
      method: "POST",
      path: "/reservations/:id/release",
      params: z.object({ id: z.uuid() }),
      response: reservation,
      summary: "Puts a reservation's stock back; releasing twice changes nothing.",
    }),
    releaseOrder: route({
      method: "POST",
      path: "/orders/:orderId/release",
      params: z.object({ orderId: z.string().min(1) }),
      response: z.object({ orderId: z.string(), reservations: z.array(reservation) }),
      summary:
        "Releases every reservation of the order and closes the order to reservations: one arriving " +
        "later is refused (409 INVENTORY_ORDER_RELEASED). With none it answers `reservations: []`; " +
        "releasing twice changes nothing. What a compensation calls when it does not know whether the reservation happened.",
    }),
    stock: route({
      method: "GET",
      path: "/stock/:sku",
      params: z.object({ sku: z.string().min(1) }),
      response: z.object({ sku: z.string(), available: z.number().int() }),
    }),
  },
});
