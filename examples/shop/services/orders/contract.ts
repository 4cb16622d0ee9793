import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

const item = z.object({ productId: z.string().min(1), quantity: z.number().int().positive().max(100) });

/** An order as the orders service reports it. */
export const order = z.object({
  orderId: z.string(),
  userId: z.string(),
  status: z.enum(["pending", "confirmed", "cancelled"]),
  totalCents: z.number().int(),
  items: z.array(item),
  shipmentId: z.string().nullable(),
  cancelReason: z.string().nullable(),
  createdAt: z.string(),
});

const limit = z.object({ limit: z.coerce.number().int().min(1).max(50).default(10) });

/**
 * The orders service. `POST /orders` stores the order and starts the order saga (payment →
 * inventory → shipping) in one transaction; the order is `pending` until the saga confirms or
 * cancels it. The user is the gateway's authenticated subject.
 */
export const orders = defineContract({
  name: "orders",
  version: "1.0.0",
  routes: {
    placeOrder: route({
      method: "POST",
      path: "/orders",
      body: z.object({
        items: z.array(item).min(1).max(20),
        /** Demo payment token; `tok_declined` is declined by payments. */
        paymentMethod: z.string().min(1).default("tok_visa"),
      }),
      response: z.object({ orderId: z.string(), status: z.literal("pending"), totalCents: z.number().int() }),
      status: 201,
      summary: "Places an order and starts its saga; send an Idempotency-Key to make a retry safe.",
    }),
    getOrder: route({
      method: "GET",
      path: "/orders/:id",
      params: z.object({ id: z.string().min(1) }),
      response: order,
    }),
    listUserOrders: route({
      method: "GET",
      path: "/users/:id/orders",
      params: z.object({ id: z.string().min(1) }),
      query: limit,
      response: z.object({ orders: z.array(order) }),
      summary: "A user's orders, newest first; only the user may list them.",
    }),
    myOrders: route({
      method: "GET",
      path: "/me/orders",
      query: limit,
      response: z.object({ orders: z.array(order) }),
      summary: "The authenticated user's orders, newest first (the dashboard's part).",
    }),
  },
});
