import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type { ServiceInstance } from "@flotilla/registry";
import type { Backoff, CircuitBreaker, RetryBudget } from "@flotilla/resilience";
import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode, isGatewayError } from "../chain/gateway-error.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import type { GatewayResponse } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import { UpstreamClientError, UpstreamClientErrorCode } from "../upstream-client/upstream-client-error.js";
import type { UpstreamPool } from "../upstream-client/upstream-pool.js";
import { BodyLimitStream } from "./body-limit-stream.js";
import { type AttemptPolicy, type AttemptResult, ProxyAttempt } from "./proxy-attempt.js";
import { upgradeOf } from "./upgrade-request.js";
import type { Upstream } from "./upstream.js";
import { upstreamRequestHead } from "./upstream-request-headers.js";

/** One upstream of a route and its share of the traffic. */
export interface WeightedUpstream {
  readonly upstream: Upstream;
  readonly weight: number;
}

/** Outcomes a route retries on. */
export type RetryOn = "connect-failure" | "reset" | "timeout" | "502" | "503" | "504" | "5xx";

/** A route's retry policy, resolved. */
export interface RouteRetry {
  /** Attempts in all, the first included: 3 is up to two retries. */
  readonly attempts: number;
  readonly on: ReadonlySet<RetryOn>;
  readonly backoff: Backoff;
  /** Shared by the route's requests, so retries add at most a share of the load. */
  readonly budget: RetryBudget;
}

/** Everything the upstream step of one route needs, resolved from configuration. */
export interface UpstreamStepOptions {
  readonly routeId: string;
  readonly targets: readonly WeightedUpstream[];
  /** The gateway's upstream connections. */
  readonly pool: UpstreamPool;
  /** Time until the upstream's response headers, across all attempts. */
  readonly timeoutMs: number;
  /** Time until response headers for one attempt; defaults to what is left of `timeoutMs`. */
  readonly perTryTimeoutMs: number | undefined;
  /** Longest silence while a response body streams. */
  readonly idleTimeoutMs: number;
  readonly retry: RouteRetry | undefined;
  readonly breaker: CircuitBreaker | undefined;
  /** Concurrent attempts allowed to the route's upstream; beyond it 503. */
  readonly maxConcurrent: number | undefined;
  /** Largest request body; larger ones are refused with 413 (chunked ones midway). */
  readonly maxRequestBodyBytes: number | undefined;
  /** Largest response body a layer may ask to read whole. */
  readonly maxBufferedBytes: number;
  /** Rewrites the path and query sent upstream (`undefined` when it cannot be done safely: 400); identity when absent. */
  readonly rewritePath: ((exchange: Exchange) => string | undefined) | undefined;
  readonly rewriteHost: string | undefined;
  /** Affinity key for hash balancers. */
  readonly hashKey: ((exchange: Exchange) => string | undefined) | undefined;
  readonly logger: GatewayLogger;
  /** Replace the client's trace headers with the gateway span's context (tracing on). */
  readonly propagateTrace?: boolean;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const idempotentMethods = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
const connectFailureCodes = new Set([
  "ECONNREFUSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
const timeoutCodes = new Set<string>([
  UpstreamClientErrorCode.HeadersTimeout,
  UpstreamClientErrorCode.BodyTimeout,
]);

/**
 * The last step of a route's chain: proxies the request to one of the route's upstreams under
 * its policies — in the order timeout ∘ retry ∘ circuit breaker ∘ bulkhead — and streams the
 * answer back. Retries happen only before anything reached the client, only on the outcomes the
 * route lists, only while the retry budget allows, for a non-idempotent method only when the
 * request never left (connection refused) or carries an `Idempotency-Key`, and never once a
 * streamed request body has been read. Each retry goes to another instance when there is one.
 */
export class UpstreamStep implements Layer {
  readonly name = "upstream";
  readonly #o: UpstreamStepOptions;
  readonly #totalWeight: number;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #active = 0;
  // The policy of an attempt after which no retry can follow: shared, nothing to allocate.
  readonly #finalAttempt: AttemptPolicy;

  constructor(options: UpstreamStepOptions) {
    this.#o = options;
    this.#totalWeight = options.targets.reduce((sum, t) => sum + t.weight, 0);
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#finalAttempt = { maxBufferedBytes: options.maxBufferedBytes, retryOnStatus: () => false };
  }

  /** Attempts in flight now. */
  get active(): number {
    return this.#active;
  }

  handle(exchange: Exchange, _next?: Next): Promise<GatewayResponse> {
    return this.#proxy(exchange, this.#choose());
  }

  #choose(): Upstream {
    const targets = this.#o.targets;
    if (targets.length === 1) return targets[0]!.upstream;
    let ticket = this.#random() * this.#totalWeight;
    for (const target of targets) {
      ticket -= target.weight;
      if (ticket < 0) return target.upstream;
    }
    return targets[targets.length - 1]!.upstream;
  }

  async #proxy(exchange: Exchange, upstream: Upstream): Promise<GatewayResponse> {
    const o = this.#o;
    const deadline = exchange.startedAt + o.timeoutMs;
    const retry = o.retry;
    const method = exchange.method;
    const retriableMethod =
      idempotentMethods.has(method) || exchange.headers["idempotency-key"] !== undefined;
    const key = o.hashKey?.(exchange);
    const upgrade = upgradeOf(exchange);
    const path = o.rewritePath === undefined ? exchange.path + exchange.query : o.rewritePath(exchange);
    if (path === undefined) {
      return problemResponse(
        400,
        GatewayErrorCode.BadRequest,
        "Bad Request",
        "the request path cannot be forwarded",
      );
    }
    const head = upstreamRequestHead(exchange, o.rewriteHost, o.propagateTrace === true);
    const req = exchange.req as IncomingMessage;
    const streamedBody = exchange.requestBody === undefined && hasBody(req, method);
    const declared = req.headers["content-length"];
    if (
      o.maxRequestBodyBytes !== undefined &&
      declared !== undefined &&
      Number(declared) > o.maxRequestBodyBytes
    ) {
      return problemResponse(
        413,
        GatewayErrorCode.BodyTooLarge,
        "Content Too Large",
        `request body is larger than ${o.maxRequestBodyBytes} bytes`,
        { connection: "close" },
      );
    }
    let body: Buffer | Readable | null = exchange.requestBody ?? (streamedBody ? req : null);
    if (streamedBody && o.maxRequestBodyBytes !== undefined && req.headers["content-length"] === undefined) {
      body = req.pipe(new BodyLimitStream(o.maxRequestBodyBytes));
    }
    retry?.budget.deposit();

    let tried: Set<string> | undefined;
    let last: AttemptResult | undefined;
    let lastInstance: ServiceInstance | undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return timedOut(o.routeId);
      let instance = upstream.pick(tried, key);
      if (instance === undefined && attempt === 1 && upstream.source.kind === "registry") {
        // The discovery cache may have only just started watching this service: wait for its
        // first answer from the registry, within the route's timeout.
        await waitReady(upstream, remaining);
        instance = upstream.pick(tried, key);
      }
      if (instance === undefined) {
        if (last !== undefined) break;
        return unavailable("no upstream instance is available");
      }
      const permit = o.breaker?.tryAcquirePermission();
      if (o.breaker !== undefined && permit === undefined) {
        upstream.report(instance, undefined, undefined, 0);
        if (last !== undefined) break;
        return unavailable("the route's circuit breaker is open", breakerRetryAfter(o.breaker));
      }
      if (o.maxConcurrent !== undefined && this.#active >= o.maxConcurrent) {
        if (permit !== undefined) o.breaker!.releasePermission(permit);
        upstream.report(instance, undefined, undefined, 0);
        if (last !== undefined) break;
        return unavailable("the route is at its concurrency limit");
      }
      const canRetryMore = retry !== undefined && attempt < retry.attempts && upgrade === undefined;
      const policy: AttemptPolicy =
        !canRetryMore && upgrade === undefined
          ? this.#finalAttempt
          : {
              maxBufferedBytes: o.maxBufferedBytes,
              upgrade,
              retryOnStatus: (status) =>
                canRetryMore &&
                retriableMethod &&
                !bodyConsumed(req, streamedBody) &&
                statusRetried(retry.on, status) &&
                retry.budget.tryWithdraw(),
            };
      const started = performance.now();
      const perTry = o.perTryTimeoutMs === undefined ? remaining : Math.min(remaining, o.perTryTimeoutMs);

      const handler = new ProxyAttempt(exchange, policy);
      this.#active++;
      const onClose = (): void => {
        if (!exchange.res.writableFinished) handler.abort(clientGone());
      };
      if (upgrade === undefined) exchange.res.once("close", onClose);
      o.pool.dispatch(
        {
          origin: upstream.origin(instance),
          path,
          method,
          headers: `${head.lines}x-flotilla-timeout-ms: ${Math.max(1, Math.floor(remaining))}\r\n`,
          hasContentLength: head.hasContentLength,
          body: upgrade === undefined ? body : null,
          headersTimeout: Math.max(1, Math.ceil(perTry)),
          bodyTimeout: o.idleTimeoutMs,
          upgrade: upgrade?.protocol,
        },
        handler,
      );
      const result = await handler.result;
      exchange.res.removeListener("close", onClose);
      this.#active--;
      const elapsed = performance.now() - started;
      const status = result.kind === "failed" ? undefined : result.status;
      const error = result.kind === "failed" ? result.error : undefined;
      upstream.report(instance, status, error, elapsed);
      if (permit !== undefined) {
        const breaker = o.breaker!;
        if (error !== undefined || (status !== undefined && status >= 500)) {
          breaker.onError(elapsed, error ?? new Error(`status ${status}`), permit);
        } else breaker.onSuccess(elapsed, permit);
      }
      last = result;
      lastInstance = instance;
      if (result.kind === "sent" || result.kind === "buffered") break;
      if (result.kind === "failed") {
        if (isGatewayError(result.error) || (result.error as { code?: string }).code === clientGoneCode)
          break;
        const reason = failureKind(result.error);
        const safeToResend =
          reason === "connect-failure" || (retriableMethod && !bodyConsumed(req, streamedBody));
        if (!(canRetryMore && safeToResend && retry.on.has(reason) && retry.budget.tryWithdraw())) break;
      }
      tried ??= new Set();
      tried.add(instance.id);
      const delay = retry!.backoff(attempt, result, 0);
      if (delay > 0) await this.#sleep(Math.min(delay, Math.max(0, deadline - performance.now())));
    }
    return this.#answer(exchange, last!, lastInstance);
  }

  #answer(exchange: Exchange, result: AttemptResult, instance: ServiceInstance | undefined): GatewayResponse {
    switch (result.kind) {
      case "sent":
        if (result.error !== undefined) {
          this.#o.logger.warn(
            {
              route: this.#o.routeId,
              requestId: exchange.requestId,
              instance: instance?.id,
              err: result.error,
            },
            "upstream response broke off after its headers were sent",
          );
        }
        return { status: result.status, headers: {}, body: undefined, streamed: true };
      case "buffered":
        return { status: result.status, headers: result.headers, body: result.body, streamed: false };
      case "retry-status":
        // Only reachable when the last attempt's status was one to retry yet no attempt was left
        // in the budget at the very end — the body is gone, so answer like the upstream did.
        return problemResponse(
          result.status === 504 ? 504 : 503,
          result.status === 504 ? GatewayErrorCode.GatewayTimeout : GatewayErrorCode.Unavailable,
          result.status === 504 ? "Gateway Timeout" : "Service Unavailable",
          "the upstream could not handle the request",
          result.retryAfter === undefined ? {} : { "retry-after": result.retryAfter },
        );
      case "failed":
        return this.#failure(exchange, result.error, instance);
    }
  }

  #failure(exchange: Exchange, error: Error, instance: ServiceInstance | undefined): GatewayResponse {
    const code = (error as { code?: string }).code;
    if (isGatewayError(error) && error.code === GatewayErrorCode.BodyTooLarge) {
      return problemResponse(413, GatewayErrorCode.BodyTooLarge, "Content Too Large", error.message, {
        connection: "close",
      });
    }
    const log = { route: this.#o.routeId, requestId: exchange.requestId, instance: instance?.id, err: error };
    if (code === clientGoneCode) {
      this.#o.logger.debug(log, "client went away before the upstream answered");
      return problemResponse(
        499,
        GatewayErrorCode.BadGateway,
        "Client Closed Request",
        "the client went away",
      );
    }
    if (code !== undefined && timeoutCodes.has(code)) {
      this.#o.logger.warn(log, "upstream timed out");
      return timedOut(this.#o.routeId);
    }
    this.#o.logger.warn(log, "upstream request failed");
    return problemResponse(502, GatewayErrorCode.BadGateway, "Bad Gateway", "the upstream failed to answer");
  }
}

/** Builds an {@link UpstreamStep}. */
export function upstreamStep(options: UpstreamStepOptions): UpstreamStep {
  return new UpstreamStep(options);
}

const clientGoneCode = "FLT_GATEWAY_CLIENT_GONE";

function clientGone(): Error {
  return Object.assign(new Error("the client closed the connection"), { code: clientGoneCode });
}

function hasBody(req: IncomingMessage, method: string): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return length !== "0";
  if (req.headers["transfer-encoding"] !== undefined) return true;
  // HTTP/2 requests carry no framing header: a request stream not ended after its headers has a body.
  return req.httpVersionMajor === 2 && !req.readableEnded && method !== "GET" && method !== "HEAD";
}

function bodyConsumed(req: IncomingMessage, streamed: boolean): boolean {
  return streamed && req.readableDidRead;
}

function statusRetried(on: ReadonlySet<RetryOn>, status: number): boolean {
  if (status < 500) return false;
  if (on.has("5xx")) return true;
  return (
    (status === 502 && on.has("502")) ||
    (status === 503 && on.has("503")) ||
    (status === 504 && on.has("504"))
  );
}

function failureKind(error: Error): RetryOn {
  if (error instanceof UpstreamClientError && error.unsent) return "connect-failure";
  const code = (error as { code?: string }).code;
  if (code !== undefined && connectFailureCodes.has(code)) return "connect-failure";
  if (code !== undefined && timeoutCodes.has(code)) return "timeout";
  return "reset";
}

async function waitReady(upstream: Upstream, withinMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    upstream.ready().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, withinMs);
    }),
  ]);
  clearTimeout(timer);
}

function breakerRetryAfter(breaker: CircuitBreaker): number | undefined {
  try {
    breaker.releasePermission(breaker.acquirePermission());
    return undefined;
  } catch (error) {
    return (error as { retryAfterMs?: number }).retryAfterMs;
  }
}

function timedOut(routeId: string): GatewayResponse {
  return problemResponse(
    504,
    GatewayErrorCode.GatewayTimeout,
    "Gateway Timeout",
    `the upstream of route ${routeId} did not answer in time`,
  );
}

function unavailable(detail: string, retryAfterMs?: number): GatewayResponse {
  const seconds = retryAfterMs === undefined ? 1 : Math.max(1, Math.ceil(retryAfterMs / 1000));
  return problemResponse(503, GatewayErrorCode.Unavailable, "Service Unavailable", detail, {
    "retry-after": String(seconds),
  });
}
