import type { Logger, Telemetry } from "@flotilla/observability";
import type { ClientOf } from "../contract/client-types.js";
import type { AnyContract } from "../contract/define-contract.js";
import type { Database } from "../database/database.js";

/**
 * The contracts a service calls, by the name its handlers use (`ctx.clients.inventory`). The
 * instances are found in the registry under each contract's `name`.
 */
export type Dependencies = Readonly<Record<string, AnyContract>>;

/** The typed clients of a service's dependencies: `ctx.clients.inventory.reserve({ … })`. */
export type HandlerClients<D extends Dependencies> = { readonly [K in keyof D]: ClientOf<D[K]> };

/** One row of a query result. */
// biome-ignore lint/suspicious/noExplicitAny: rows are untyped unless the caller names their type.
export type QueryRow = Record<string, any>;

/**
 * What the server is given as the service's database (`ServiceServerOptions.db`) and what the
 * PostgreSQL idempotency store queries: anything with `pg`'s `query` (a `pg.Pool` or a
 * {@link Database} fits). Handlers see it as a {@link Database} (`ctx.db`).
 */
export interface HandlerDatabase {
  query<Row extends QueryRow = QueryRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<{ readonly rows: Row[]; readonly rowCount: number | null }>;
}

/**
 * What a handler (and every pipeline step) receives besides its input. One per request.
 */
export interface HandlerContext<D extends Dependencies = Dependencies> {
  /** The contract route's name (`reserve`). */
  readonly route: string;
  /**
   * A child of the service's logger with `route`; lines written while the request's span is active
   * also carry `trace_id` and `span_id`.
   */
  readonly logger: Logger;
  /** Epoch ms by which the answer is due: now + `x-flotilla-timeout-ms` (capped), or `undefined`. */
  readonly deadline: number | undefined;
  /** Aborts when the client goes away, the deadline passes, or the server is forced to close. */
  readonly signal: AbortSignal;
  /** The calling service (`orders/orders-7f9c`) from `x-flotilla-caller`, when it said. */
  readonly caller: string | undefined;
  /** The request's `idempotency-key` header, if any. */
  readonly idempotencyKey: string | undefined;
  /** The trace id of the request's span, when tracing is active. */
  readonly traceId: string | undefined;
  /** The process's tracer for spans of the handler's own work, while telemetry is active. */
  readonly tracer: Telemetry["tracer"] | undefined;
  /**
   * The service's own PostgreSQL database: `query`, `transaction` (retried on serialization
   * failures), `pool`. Statements run as the service's role, which has rights on this database
   * only. Using it in a service that declares none rejects with `FLT_SERVICE_NO_DATABASE`.
   */
  readonly db: Database;
  /** Typed clients of the service's dependencies; the deadline and caller travel with each call. */
  readonly clients: HandlerClients<D>;
  /**
   * Per-request scratch space for pipeline steps: an authentication step stores the principal
   * here (`ctx.state.user = …`) for the authorization step and the handler.
   */
  readonly state: Record<string, unknown>;
}
