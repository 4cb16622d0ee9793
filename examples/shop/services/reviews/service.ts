import { defineService } from "@flotilla/service";
import type { ShopService } from "../../lib/shop-service.ts";
import { subjectOf, subjectStep } from "../../lib/subject-step.ts";
import { reviews } from "./contract.ts";

interface ReviewRow extends Record<string, unknown> {
  reviewId: string;
  productId: string;
  userId: string;
  rating: number;
  body: string;
}

const columns = `id::text AS "reviewId", product_id AS "productId", user_id AS "userId", rating, body`;

/** The reviews service: plain CRUD on its own database; writing needs an authenticated user. */
export function reviewsShopService(): ShopService {
  const service = defineService({
    contract: reviews,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    pipeline: [subjectStep({ publicRoutes: ["list"] })],
    handlers: {
      async list({ params }, ctx) {
        const { rows } = await ctx.db.query<ReviewRow>(
          `SELECT ${columns} FROM reviews WHERE product_id = $1 ORDER BY created_at DESC LIMIT 100`,
          [params.productId],
        );
        return { reviews: rows };
      },
      async write({ params, body }, ctx) {
        const { rows } = await ctx.db.query<ReviewRow>(
          `INSERT INTO reviews (product_id, user_id, rating, body) VALUES ($1, $2, $3, $4)
           ON CONFLICT (product_id, user_id) DO UPDATE SET rating = excluded.rating, body = excluded.body
           RETURNING ${columns}`,
          [params.productId, subjectOf(ctx), body.rating, body.body],
        );
        return rows[0]!;
      },
      async remove({ params }, ctx) {
        const { rowCount } = await ctx.db.query(
          "DELETE FROM reviews WHERE product_id = $1 AND user_id = $2",
          [params.productId, subjectOf(ctx)],
        );
        return { deleted: rowCount === 1 };
      },
    },
  });
  return { service, defaults: {}, hooks: {} };
}
