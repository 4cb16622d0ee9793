import { defineService, type PipelineStep, problem } from "@flotilla/service";
import type { ShopService } from "../../lib/shop-service.ts";
import { catalog } from "./contract.ts";

interface ProductRow extends Record<string, unknown> {
  id: string;
  name: string;
  description: string;
  priceCents: number;
  currency: string;
}

const columns = `id, name, description, price_cents AS "priceCents", currency`;

/**
 * Adds `Cache-Control` to successful answers: handlers cannot set headers, a step around the
 * handler can. Shared caches (the gateway) keep them `maxAgeSeconds`.
 */
export function cacheControlStep(maxAgeSeconds: number): PipelineStep {
  return {
    name: "cache-control",
    before: "handler",
    async run(_request, _ctx, next) {
      const response = await next();
      if (response.status >= 300) return response;
      return {
        ...response,
        headers: { ...response.headers, "cache-control": `public, max-age=${maxAgeSeconds}` },
      };
    },
  };
}

/** Options of {@link catalogShopService}. */
export interface CatalogOptions {
  /** Freshness of product answers in shared caches, seconds. Default 30. */
  readonly maxAgeSeconds?: number;
}

/** The catalog service: products seeded by its migration, answered with `Cache-Control`. */
export function catalogShopService(options: CatalogOptions = {}): ShopService {
  const service = defineService({
    contract: catalog,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    pipeline: [cacheControlStep(options.maxAgeSeconds ?? 30)],
    handlers: {
      async listProducts(_input, ctx) {
        const { rows } = await ctx.db.query<ProductRow>(`SELECT ${columns} FROM products ORDER BY id`);
        return { products: rows };
      },
      async getProduct({ params }, ctx) {
        const { rows } = await ctx.db.query<ProductRow>(`SELECT ${columns} FROM products WHERE id = $1`, [
          params.id,
        ]);
        if (rows[0] === undefined)
          throw problem(404, `no product ${params.id}`, { code: "CATALOG_NOT_FOUND" });
        return rows[0];
      },
    },
  });
  return { service, defaults: {}, hooks: {} };
}
