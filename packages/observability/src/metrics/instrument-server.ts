import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import type { Server as HttpsServer } from "node:https";

/** What {@link instrumentServer} records into: a {@link Metrics} or anything with its `observeServer`. */
export interface ServerObserver {
  observeServer(method: string, route: string | undefined, status: number | undefined, seconds: number): void;
}

/** Options of {@link instrumentServer}. */
export interface InstrumentServerOptions {
  /**
   * The route TEMPLATE that served the request (`/orders/:id`), or `undefined` when none matched
   * (recorded as `unmatched`). Called when the response is over, so a router that stored its match
   * on the request or response during handling can be read here. Never return the raw path.
   */
  readonly route: (req: IncomingMessage, res: ServerResponse) => string | undefined;
  /** Requests to leave out, such as the metrics and health endpoints themselves. */
  readonly ignore?: (req: IncomingMessage) => boolean;
}

const kStart = Symbol("flotilla.metrics.start");
type Timed = ServerResponse & { [kStart]?: number | undefined };

/**
 * Times every request of a `node:http` or `node:https` server into
 * `http_server_request_duration_seconds`, from the `request` event to the response's `close`
 * (sent or aborted). The status is the one sent, or none when the connection closed before the
 * response headers were written. Returns a function that stops instrumenting.
 *
 * The listener is prepended, so the clock starts before the service's own handler runs. Per request
 * it costs one property on the response, one `close` listener (shared, not a closure per request)
 * and two `performance.now()` readings.
 *
 * @example
 * ```ts
 * const stop = instrumentServer(server, metrics, { route: (req) => routeOf(req) });
 * ```
 */
export function instrumentServer(
  server: HttpServer | HttpsServer,
  metrics: ServerObserver,
  options: InstrumentServerOptions,
): () => void {
  const { route, ignore } = options;
  if (typeof route !== "function") throw new TypeError("instrumentServer: options.route must be a function");
  function onClose(this: Timed): void {
    const start = this[kStart];
    if (start === undefined) return;
    this[kStart] = undefined;
    const req = this.req;
    metrics.observeServer(
      req.method ?? "",
      route(req, this),
      this.headersSent ? this.statusCode : undefined,
      (performance.now() - start) / 1000,
    );
  }
  const onRequest = (req: IncomingMessage, res: Timed): void => {
    if (ignore?.(req)) return;
    res[kStart] = performance.now();
    res.on("close", onClose);
  };
  server.prependListener("request", onRequest);
  return () => {
    server.off("request", onRequest);
  };
}
