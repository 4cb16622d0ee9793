import type { PoolClient } from "pg";

/**
 * Where the transaction and migration helpers get a connection: a `pg` `Pool`, or anything that
 * hands out `PoolClient`s the same way (each is given back with `release()`).
 */
export interface ClientSource {
  connect(): Promise<PoolClient>;
}
