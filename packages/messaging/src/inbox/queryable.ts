import type { QueryResult } from "pg";

/**
 * Anything that runs a parameterised query: a `pg` `Pool`, `PoolClient` or `Client`. Give the
 * inbox the transaction's client (the `tx` of a handler) whenever the write must commit or roll
 * back with other work.
 */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<QueryResult>;
  /** With `name`, a prepared statement: parsed and planned once per connection. */
  query(config: {
    readonly name?: string;
    readonly text: string;
    readonly values?: unknown[];
  }): Promise<QueryResult>;
}
