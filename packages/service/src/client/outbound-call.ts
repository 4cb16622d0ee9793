import type { Deadline, PolicyContext } from "@flotilla/resilience";
import type { AnyRoute } from "../contract/route.js";

/**
 * One call on its way out: the request (built once, sent by every attempt) and the context the
 * outermost policy receives. The fallback's strategies receive this very object as their context,
 * which is how an alternative service or a queue learns what to send.
 */
export class OutboundCall implements PolicyContext {
  /** The caller's signal, combined with the current request's. */
  readonly signal: AbortSignal | undefined;
  /** The caller's deadline (the earliest of the call's and the current request's), before the dependency's timeout. */
  readonly deadline: Deadline | undefined;
  /** The stale-cache key (method, path and query), set only when a stale-cache fallback may need it. */
  readonly key: string | undefined;
  readonly attempt: undefined = undefined;
  /** The callee service. */
  readonly service: string;
  /** The route name, or `METHOD /path` for an untyped call. */
  readonly label: string;
  /** The contract route, for response validation; `undefined` for an untyped call. */
  readonly route: AnyRoute | undefined;
  readonly method: string;
  /** Path and query string, encoded. */
  readonly path: string;
  /** The JSON body as text. */
  readonly body: string | undefined;
  /** The `idempotency-key` sent with every attempt. */
  readonly idempotencyKey: string | undefined;
  /** The caller's extra headers. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Instance ids tried so far: the first as a string, a set from the second on. */
  tried: string | Set<string> | undefined = undefined;

  constructor(init: {
    service: string;
    label: string;
    route: AnyRoute | undefined;
    method: string;
    path: string;
    body: string | undefined;
    idempotencyKey: string | undefined;
    headers: Readonly<Record<string, string>> | undefined;
    signal: AbortSignal | undefined;
    deadline: Deadline | undefined;
    key: string | undefined;
  }) {
    this.service = init.service;
    this.label = init.label;
    this.route = init.route;
    this.method = init.method;
    this.path = init.path;
    this.body = init.body;
    this.idempotencyKey = init.idempotencyKey;
    this.headers = init.headers;
    this.signal = init.signal;
    this.deadline = init.deadline;
    this.key = init.key;
  }

  /** Records that an attempt went to `id`. */
  triedInstance(id: string): void {
    const tried = this.tried;
    if (tried === undefined) this.tried = id;
    else if (typeof tried === "string") this.tried = new Set([tried, id]);
    else tried.add(id);
  }

  /** The instance ids tried so far, as a set (for `Discovery.pick`'s `exclude`). */
  triedSet(): ReadonlySet<string> | undefined {
    const tried = this.tried;
    if (tried === undefined) return undefined;
    if (typeof tried === "string") return new Set([tried]);
    return tried;
  }
}
