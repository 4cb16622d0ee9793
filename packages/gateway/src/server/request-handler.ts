import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { TLSSocket } from "node:tls";
import type { HttpDurationHistogram } from "@flotilla/observability";
import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import type { GatewayResponse } from "../chain/gateway-response.js";
import { mergeResponseHeaders } from "../chain/merge-response-headers.js";
import { problemResponse } from "../chain/problem-response.js";
import { runChain } from "../chain/run-chain.js";
import { normalizePath } from "../router/normalize-path.js";
import type { GatewaySnapshot } from "./gateway-snapshot.js";
import { clientAddress, requestHost } from "./request-host.js";
import { requestId } from "./request-id.js";

/** What {@link RequestHandler} needs. */
export interface RequestHandlerOptions {
  readonly snapshot: GatewaySnapshot;
  readonly logger: GatewayLogger;
  /** RED metrics per route; none when absent. */
  readonly durations: HttpDurationHistogram | undefined;
  /** Called when a retired snapshot has no request left. */
  readonly onDrained: (snapshot: GatewaySnapshot) => void;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * Serves every request of every listener from the current {@link GatewaySnapshot}: normalizes
 * the target (400 on traversal and bad encodings), routes (404 / 405 with `Allow`), runs the
 * route's chain and writes what it answers, then records duration per route and the access log.
 */
export class RequestHandler {
  #snapshot: GatewaySnapshot;
  readonly #logger: GatewayLogger;
  readonly #durations: HttpDurationHistogram | undefined;
  readonly #onDrained: (snapshot: GatewaySnapshot) => void;
  accessLog: boolean;
  /** Set while the gateway drains: answers carry `Connection: close`, and each one ending calls `onIdle`. */
  closing = false;
  onIdle: (() => void) | undefined;

  constructor(options: RequestHandlerOptions) {
    this.#snapshot = options.snapshot;
    this.#logger = options.logger;
    this.#durations = options.durations;
    this.#onDrained = options.onDrained;
    this.accessLog = options.snapshot.config.accessLog;
  }

  get snapshot(): GatewaySnapshot {
    return this.#snapshot;
  }

  /** Serves new requests from `snapshot`; returns the one it replaces (retired). */
  swap(snapshot: GatewaySnapshot): GatewaySnapshot {
    const old = this.#snapshot;
    this.#snapshot = snapshot;
    this.accessLog = snapshot.config.accessLog;
    old.retired = true;
    if (old.inflight === 0) this.#onDrained(old);
    return old;
  }

  /** Serves one request; `prepare` sees the exchange before its chain runs (marks an upgrade). */
  readonly handle = (req: AnyRequest, res: AnyResponse, prepare?: (exchange: Exchange) => void): void => {
    const startedAt = performance.now();
    if (this.closing && "shouldKeepAlive" in res) res.shouldKeepAlive = false;
    const snapshot = this.#snapshot;
    snapshot.inflight++;
    const method = req.method ?? "GET";
    const target = normalizePath(req.url ?? "", snapshot.pathOptions);
    let response: GatewayResponse | Promise<GatewayResponse>;
    let exchange: Exchange | undefined;
    let routeId = "unmatched";
    const hostHeader = (req.headers.host ?? req.headers[":authority"]) as string | undefined;
    if (hostHeader === undefined && req.httpVersion === "1.1") {
      // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host.
      response = problemResponse(
        400,
        GatewayErrorCode.BadRequest,
        "Bad Request",
        "the request has no Host header",
        {
          connection: "close",
        },
      );
    } else if (!target.ok) {
      this.#logger.info(
        { method, reason: target.reason, client: clientAddress(req.socket?.remoteAddress) },
        "refused a malformed request target",
      );
      response = problemResponse(
        400,
        GatewayErrorCode.BadRequest,
        "Bad Request",
        `malformed request target: ${target.reason}`,
      );
    } else {
      const host = requestHost(hostHeader);
      const match = snapshot.router.match(method, host, target.path, req.headers);
      if (match.kind === "matched") {
        const route = match.route.payload;
        routeId = route.id;
        exchange = {
          req,
          res,
          method,
          host,
          path: target.path,
          query: target.query,
          headers: req.headers,
          clientIp: clientAddress(req.socket?.remoteAddress),
          protocol: (req.socket as TLSSocket | undefined)?.encrypted === true ? "https" : "http",
          requestId: requestId(req.headers["x-request-id"]),
          routeId,
          params: match.params,
          identity: undefined,
          responseHeaders: {},
          upstreamHeaders: {},
          requestBody: undefined,
          bufferResponse: false,
          startedAt,
        };
        try {
          prepare?.(exchange);
          response = runChain(route.layers, route.terminal, exchange);
        } catch (error) {
          response = this.#internal(error, routeId);
        }
      } else if (match.kind === "method-not-allowed") {
        response = problemResponse(
          405,
          GatewayErrorCode.MethodNotAllowed,
          "Method Not Allowed",
          `${method} is not allowed here`,
          { allow: match.allow.join(", ") },
        );
      } else {
        response = problemResponse(
          404,
          GatewayErrorCode.RouteNotFound,
          "Not Found",
          "no route matches the request",
        );
      }
    }
    if (response instanceof Promise) {
      response.then(
        (r) => this.#complete(snapshot, req, res, exchange, routeId, r, startedAt),
        (error: unknown) =>
          this.#complete(snapshot, req, res, exchange, routeId, this.#internal(error, routeId), startedAt),
      );
    } else this.#complete(snapshot, req, res, exchange, routeId, response, startedAt);
  };

  #internal(error: unknown, routeId: string): GatewayResponse {
    this.#logger.error({ err: error, route: routeId }, "gateway bug: a request chain failed");
    return problemResponse(
      500,
      GatewayErrorCode.Internal,
      "Internal Server Error",
      "the gateway failed to handle the request",
    );
  }

  #complete(
    snapshot: GatewaySnapshot,
    req: AnyRequest,
    res: AnyResponse,
    exchange: Exchange | undefined,
    routeId: string,
    response: GatewayResponse,
    startedAt: number,
  ): void {
    if (!response.streamed) writeResponse(req, res, exchange, response);
    const seconds = (performance.now() - startedAt) / 1000;
    const method = req.method ?? "GET";
    this.#durations?.observe(method, routeId, response.status, seconds);
    if (this.accessLog) {
      this.#logger.info(
        {
          method,
          path: exchange?.path ?? req.url,
          route: routeId,
          status: response.status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          requestId: exchange?.requestId,
          client: exchange?.clientIp ?? clientAddress(req.socket?.remoteAddress),
          consumer: exchange?.identity?.consumer,
        },
        "request",
      );
    }
    if (--snapshot.inflight === 0 && snapshot.retired) this.#onDrained(snapshot);
    // A keep-alive connection whose request was running when the drain began is idle only now.
    if (this.closing && this.onIdle !== undefined) setImmediate(this.onIdle);
  }
}

/** Writes a response a layer built (problem, cache hit, buffered upstream answer). */
export function writeResponse(
  req: AnyRequest,
  res: AnyResponse,
  exchange: Exchange | undefined,
  response: GatewayResponse,
): void {
  if (res.headersSent || res.destroyed || response.status === 499) {
    if (!res.writableEnded && !res.destroyed) res.end();
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const name in response.headers) {
    const value = response.headers[name]!;
    headers[name] = typeof value === "string" ? value : [...value];
  }
  if (exchange !== undefined) {
    mergeResponseHeaders(headers, exchange.responseHeaders);
    headers["x-request-id"] = exchange.requestId;
  }
  const body = response.body;
  if (body !== undefined) headers["content-length"] = String(body.length);
  else if (response.status !== 204 && response.status !== 304) headers["content-length"] = "0";
  const out = res as ServerResponse;
  out.writeHead(response.status, headers);
  if (body === undefined || req.method === "HEAD") out.end();
  else out.end(body);
}
