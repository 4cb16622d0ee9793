import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

/** The notifications service: what was sent to users, and through which channel. */
export const notifications = defineContract({
  name: "notifications",
  version: "1.0.0",
  routes: {
    ofOrder: route({
      method: "GET",
      path: "/orders/:orderId/notifications",
      params: z.object({ orderId: z.string().min(1) }),
      response: z.object({
        notifications: z.array(
          z.object({ channel: z.enum(["push", "email", "queued"]), body: z.string(), messageId: z.string() }),
        ),
      }),
    }),
  },
});
