import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

/** A product as the catalog sells it; prices in cents. */
export const product = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  priceCents: z.number().int().positive(),
  currency: z.string(),
});

/** The catalog service: products and prices, read-heavy and cacheable. */
export const catalog = defineContract({
  name: "catalog",
  version: "1.0.0",
  routes: {
    listProducts: route({
      method: "GET",
      path: "/products",
      response: z.object({ products: z.array(product) }),
      summary: "Every product; Cache-Control lets the gateway's response cache answer.",
    }),
    getProduct: route({
      method: "GET",
      path: "/products/:id",
      params: z.object({ id: z.string().min(1) }),
      response: product,
    }),
  },
});
