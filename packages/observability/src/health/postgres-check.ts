import type { HealthCheck } from "./health-check.js";

/** Anything that runs a query: a `pg` `Pool` or `Client`, or a wrapper around one. */
export interface Queryable {
  query(text: string): Promise<unknown>;
}

/**
 * A check that runs `SELECT 1` on `pool`: it passes when PostgreSQL answers, and fails with the
 * driver's error (`connect ECONNREFUSED 127.0.0.1:5432`, `password authentication failed …`).
 * The query is not cancelled on timeout (`pg` cannot abort a query from a signal); give the pool
 * a `connectionTimeoutMillis` and a `query_timeout` so a hung connection is not kept forever.
 */
export function postgresCheck(pool: Queryable, sql = "SELECT 1"): HealthCheck {
  if (typeof pool?.query !== "function") throw new TypeError("postgresCheck: expected a pool with query()");
  return async () => {
    await pool.query(sql);
  };
}
