import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

/** One review of a product. */
export const review = z.object({
  reviewId: z.string(),
  productId: z.string(),
  userId: z.string(),
  rating: z.number().int().min(1).max(5),
  body: z.string(),
});

const productParams = z.object({ productId: z.string().min(1) });

/** The reviews service: one review per user and product, readable by anyone. */
export const reviews = defineContract({
  name: "reviews",
  version: "1.0.0",
  routes: {
    list: route({
      method: "GET",
      path: "/products/:productId/reviews",
      params: productParams,
      response: z.object({ reviews: z.array(review) }),
    }),
    write: route({
      method: "PUT",
      path: "/products/:productId/reviews/mine",
      params: productParams,
      body: z.object({ rating: z.number().int().min(1).max(5), body: z.string().max(4000) }),
      response: review,
      summary: "Creates or replaces the authenticated user's review of the product.",
    }),
    remove: route({
      method: "DELETE",
      path: "/products/:productId/reviews/mine",
      params: productParams,
      response: z.object({ deleted: z.boolean() }),
    }),
  },
});
