import { activeTelemetry, type Logger, type Telemetry } from "@flotilla/observability";
import type { Database } from "../database/database.js";
import type { Dependencies, HandlerClients, HandlerContext } from "./handler-context.js";

/** The {@link HandlerContext} of one request; the logger child is made only when used. */
export class RequestContext implements HandlerContext {
  readonly route: string;
  readonly deadline: number | undefined;
  readonly signal: AbortSignal;
  readonly caller: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly traceId: string | undefined;
  readonly db: Database;
  readonly clients: HandlerClients<Dependencies>;
  readonly state: Record<string, unknown> = {};
  readonly #parent: Logger;
  #logger: Logger | undefined;

  constructor(init: {
    route: string;
    deadline: number | undefined;
    signal: AbortSignal;
    caller: string | undefined;
    idempotencyKey: string | undefined;
    traceId: string | undefined;
    db: Database;
    clients: HandlerClients<Dependencies>;
    logger: Logger;
  }) {
    this.route = init.route;
    this.deadline = init.deadline;
    this.signal = init.signal;
    this.caller = init.caller;
    this.idempotencyKey = init.idempotencyKey;
    this.traceId = init.traceId;
    this.db = init.db;
    this.clients = init.clients;
    this.#parent = init.logger;
  }

  get tracer(): Telemetry["tracer"] | undefined {
    return activeTelemetry()?.tracer;
  }

  get logger(): Logger {
    this.#logger ??= this.#parent.child({ route: this.route });
    return this.#logger;
  }
}
