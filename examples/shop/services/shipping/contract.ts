import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

const shipment = z.object({
  shipmentId: z.string(),
  orderId: z.string(),
  status: z.enum(["scheduled", "cancelled"]),
});

/** The shipping service: schedules and cancels deliveries. */
export const shipping = defineContract({
  name: "shipping",
  version: "1.0.0",
  routes: {
    schedule: route({
      method: "POST",
      path: "/shipments",
      body: z.object({ orderId: z.string().min(1), reservationId: z.string().min(1) }),
      response: shipment,
      status: 201,
    }),
    cancel: route({
      method: "POST",
      path: "/shipments/:id/cancel",
      params: z.object({ id: z.uuid() }),
      response: shipment,
    }),
  },
});
