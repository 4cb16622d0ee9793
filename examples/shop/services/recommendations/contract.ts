import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

/** The recommendations service: deliberately slow and flaky, so callers need a breaker and a fallback. */
export const recommendations = defineContract({
  name: "recommendations",
  version: "1.0.0",
  routes: {
    forMe: route({
      method: "GET",
      path: "/me/recommendations",
      response: z.object({
        items: z.array(z.object({ productId: z.string(), reason: z.string() })),
      }),
      summary: "Products for the authenticated user (x-flotilla-subject).",
    }),
  },
});
