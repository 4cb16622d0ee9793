import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode, isGatewayError } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import { bufferedResponse, type GatewayResponse } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import { type CacheClock, wallClock } from "./cache-clock.js";
import { parseRequestCacheControl, type RequestCacheControl } from "./cache-control.js";
import type { CachedResponse, CacheEntry, VarySpec } from "./cache-entry.js";
import { cacheKey, sameNames, variantKey } from "./cache-key.js";
import type { CacheStore } from "./cache-store.js";
import { isNotModified, notModifiedHeaders } from "./conditional-request.js";
import type { ResponseCacheOptions } from "./response-cache-options.js";
import { type StorableResponse, type StoragePolicy, storableResponse } from "./storable-response.js";

/** What the cache layer needs besides its options. */
export interface ResponseCacheRuntime {
  /** Where entries live; the layer does not close it (several routes share one). */
  readonly store: CacheStore;
  /** Wall-clock time source (default {@link wallClock}). */
  readonly clock?: CacheClock;
  readonly logger?: GatewayLogger;
  /**
   * Most requests waiting for one in-flight miss of the same key (default 1,000); requests past
   * it go upstream themselves.
   */
  readonly maxWaiters?: number;
}

/** The RFC 9211 cache identifier in `Cache-Status`. */
const cacheName = "flotilla";
const statusBypass = `${cacheName}; fwd=bypass`;
const statusRequest = `${cacheName}; fwd=request`;

const noRequestDirectives: RequestCacheControl = Object.freeze({
  noStore: false,
  noCache: false,
  onlyIfCached: false,
  maxAge: undefined,
});

// RFC 9110 §9.2.1: a non-error answer to any other method invalidates the URL (RFC 9111 §4.4).
const safeMethods = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Why the request went upstream, as RFC 9211 `fwd` names it. */
type Forward = "uri-miss" | "vary-miss" | "stale" | "request";

interface FlightResult {
  readonly entry: CachedResponse;
  /** The key it was stored under. */
  readonly key: string;
  readonly vary: readonly string[];
}

interface Flight {
  waiters: number;
  readonly done: Promise<FlightResult | undefined>;
  settle(result: FlightResult | undefined): void;
}

/**
 * The response cache (RFC 9111, as a shared cache): answers GET and HEAD from stored GET
 * responses, stores cacheable responses, keeps `Vary` variants apart, serves a stale entry when
 * the upstream fails within its stale-if-error window (RFC 5861), collapses concurrent misses
 * of one key into one upstream request, and says what it did in `Cache-Status` (RFC 9211).
 *
 * ```ts
 * const store = memoryCacheStore({ maxEntries: 10_000 });
 * const cache = responseCacheLayer(responseCacheOptionsSchema.parse({ defaultTtl: "30s" }), { store });
 * ```
 */
export function responseCacheLayer(
  options: ResponseCacheOptions,
  runtime: ResponseCacheRuntime,
): ResponseCacheLayer {
  return new ResponseCacheLayer(options, runtime);
}

/** See {@link responseCacheLayer}. */
export class ResponseCacheLayer implements Layer {
  readonly name = "cache";
  readonly #store: CacheStore;
  readonly #clock: CacheClock;
  readonly #logger: GatewayLogger;
  readonly #maxWaiters: number;
  readonly #cacheAuthorized: boolean;
  readonly #policy: StoragePolicy;
  readonly #flights = new Map<string, Flight>();

  constructor(options: ResponseCacheOptions, runtime: ResponseCacheRuntime) {
    this.#store = runtime.store;
    this.#clock = runtime.clock ?? wallClock;
    this.#logger = runtime.logger ?? silentLogger;
    this.#maxWaiters = runtime.maxWaiters ?? 1000;
    this.#cacheAuthorized = options.cacheAuthorized;
    this.#policy = {
      defaultTtlMs: options.defaultTtl,
      staleIfErrorMs: options.staleIfError,
      maxBodyBytes: options.maxBodyBytes,
      cacheSetCookie: options.cacheSetCookie,
    };
  }

  async handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    const method = exchange.method;
    if (method !== "GET" && method !== "HEAD") return this.#otherMethod(exchange, next);
    const headers = exchange.headers;
    if (!this.#cacheAuthorized && isAuthorized(exchange)) {
      exchange.responseHeaders["cache-status"] = statusBypass;
      return next();
    }
    const requestCc =
      headers["cache-control"] === undefined
        ? noRequestDirectives
        : parseRequestCacheControl(headers["cache-control"]);
    if (requestCc.noStore) {
      exchange.responseHeaders["cache-status"] = statusRequest;
      return next();
    }

    const baseKey = cacheKey(exchange);
    let key = baseKey;
    let spec: VarySpec | undefined;
    let entry: CachedResponse | undefined;
    const found = await this.#get(baseKey);
    if (found?.kind === "vary") {
      spec = found;
      key = variantKey(baseKey, found.names, headers);
      const variant = await this.#get(key);
      if (variant?.kind === "response") entry = variant;
    } else entry = found;

    const now = this.#clock.now();
    let forward: Forward;
    if (entry === undefined) forward = spec === undefined ? "uri-miss" : "vary-miss";
    else if (now >= entry.freshUntil) forward = "stale";
    else if (
      requestCc.noCache ||
      (requestCc.maxAge !== undefined && now - entry.storedAt >= requestCc.maxAge * 1000)
    ) {
      forward = "request";
    } else {
      return this.#answer(
        exchange,
        entry,
        now,
        `${cacheName}; hit; ttl=${Math.floor((entry.freshUntil - now) / 1000)}`,
      );
    }
    if (requestCc.onlyIfCached) {
      // RFC 9111 §5.2.1.7.
      return problemResponse(
        504,
        GatewayErrorCode.GatewayTimeout,
        "Not cached",
        "only-if-cached and no usable stored response",
      );
    }

    if (forward !== "request") {
      const flight = this.#flights.get(key);
      if (flight !== undefined) {
        if (flight.waiters < this.#maxWaiters) {
          flight.waiters++;
          const result = await flight.done;
          if (result !== undefined && variantKey(baseKey, result.vary, headers) === result.key) {
            return this.#answer(
              exchange,
              result.entry,
              this.#clock.now(),
              `${cacheName}; fwd=${forward}; collapsed`,
            );
          }
        }
        return this.#forward(exchange, next, baseKey, key, spec, entry, forward, undefined);
      }
      let settle!: (result: FlightResult | undefined) => void;
      const done = new Promise<FlightResult | undefined>((resolve) => {
        settle = resolve;
      });
      const leader: Flight = { waiters: 0, done, settle };
      this.#flights.set(key, leader);
      return this.#forward(exchange, next, baseKey, key, spec, entry, forward, leader);
    }
    return this.#forward(exchange, next, baseKey, key, spec, entry, forward, undefined);
  }

  /** Nothing to release: the store belongs to whoever built it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async #forward(
    exchange: Exchange,
    next: Next,
    baseKey: string,
    key: string,
    spec: VarySpec | undefined,
    entry: CachedResponse | undefined,
    forward: Forward,
    flight: Flight | undefined,
  ): Promise<GatewayResponse> {
    let shared: FlightResult | undefined;
    try {
      const isGet = exchange.method === "GET";
      const headers = exchange.headers;
      // Ask for the full response even when the client holds a copy, so that it can be stored;
      // the client's condition is evaluated here afterwards.
      const conditional =
        isGet && (headers["if-none-match"] !== undefined || headers["if-modified-since"] !== undefined);
      if (conditional) {
        exchange.upstreamHeaders["if-none-match"] = null;
        exchange.upstreamHeaders["if-modified-since"] = null;
      }
      exchange.bufferResponse = true;
      let response: GatewayResponse;
      try {
        response = await next();
      } catch (error) {
        const now = this.#clock.now();
        if (entry !== undefined && now < entry.staleUntil)
          return this.#stale(exchange, entry, now, errorStatus(error));
        throw error;
      }
      if (response.streamed) return response;
      const now = this.#clock.now();
      const status = response.status;
      if (status === 500 || status === 502 || status === 503 || status === 504) {
        if (entry !== undefined && now < entry.staleUntil) return this.#stale(exchange, entry, now, status);
        return withCacheStatus(response, `${cacheName}; fwd=${forward}; fwd-status=${status}`);
      }
      const storable = isGet
        ? storableResponse(response, isAuthorized(exchange), this.#policy, now)
        : undefined;
      if (storable === undefined) return withCacheStatus(response, `${cacheName}; fwd=${forward}`);
      const variant = storable.vary.length === 0 ? baseKey : variantKey(baseKey, storable.vary, headers);
      shared = { entry: storable.entry, key: variant, vary: storable.vary };
      await this.#write(baseKey, variant, storable, spec, now);
      const cacheStatus = `${cacheName}; fwd=${forward}; stored`;
      if (conditional && status === 200 && isNotModified(headers, storable.entry.headers)) {
        return bufferedResponse(
          304,
          notModifiedHeaders({ ...storable.entry.headers, "cache-status": cacheStatus }),
          undefined,
        );
      }
      return withCacheStatus(response, cacheStatus);
    } finally {
      if (flight !== undefined) {
        this.#flights.delete(key);
        flight.settle(shared);
      }
    }
  }

  #answer(exchange: Exchange, entry: CachedResponse, now: number, cacheStatus: string): GatewayResponse {
    const stored = entry.headers;
    const headers: Record<string, string | readonly string[]> = { ...stored };
    headers.age = String(Math.max(0, Math.floor((now - entry.storedAt) / 1000)));
    headers["cache-status"] = appendStatus(stored["cache-status"], cacheStatus);
    if (entry.status === 200 && isConditional(exchange) && isNotModified(exchange.headers, stored)) {
      return bufferedResponse(304, notModifiedHeaders(headers), undefined);
    }
    return bufferedResponse(entry.status, headers, exchange.method === "HEAD" ? undefined : entry.body);
  }

  #stale(
    exchange: Exchange,
    entry: CachedResponse,
    now: number,
    status: number | undefined,
  ): GatewayResponse {
    const cacheStatus =
      status === undefined
        ? `${cacheName}; hit; fwd=stale`
        : `${cacheName}; hit; fwd=stale; fwd-status=${status}`;
    this.#logger.debug(
      { requestId: exchange.requestId, upstreamStatus: status },
      "response cache: served stale",
    );
    return this.#answer(exchange, entry, now, cacheStatus);
  }

  async #write(
    baseKey: string,
    variant: string,
    storable: StorableResponse,
    spec: VarySpec | undefined,
    now: number,
  ): Promise<void> {
    const entry = storable.entry;
    const ttl = entry.staleUntil - now;
    try {
      if (storable.vary.length === 0) {
        await this.#store.set(baseKey, entry, ttl);
        return;
      }
      const sameSpec = spec !== undefined && sameNames(spec.names, storable.vary);
      if (sameSpec && spec.until >= entry.staleUntil) {
        await this.#store.set(variant, entry, ttl);
        return;
      }
      const until = sameSpec ? Math.max(spec.until, entry.staleUntil) : entry.staleUntil;
      const record: VarySpec = { kind: "vary", names: storable.vary, until };
      await Promise.all([
        this.#store.set(baseKey, record, until - now),
        this.#store.set(variant, entry, ttl),
      ]);
    } catch (error) {
      this.#storeFailed("set", error);
    }
  }

  async #get(key: string): Promise<CacheEntry | undefined> {
    try {
      return await this.#store.get(key);
    } catch (error) {
      this.#storeFailed("get", error);
      return undefined;
    }
  }

  async #otherMethod(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    const response = await next();
    if (!safeMethods.has(exchange.method) && response.status < 400) {
      try {
        await this.#store.delete(cacheKey(exchange));
      } catch (error) {
        this.#storeFailed("delete", error);
      }
    }
    return response;
  }

  // Stores are meant never to reject; this guards against one that does.
  #storeFailed(operation: string, error: unknown): void {
    this.#logger.warn(
      { operation, err: error instanceof Error ? error.message : String(error) },
      "response cache: store failed",
    );
  }
}

// RFC 9111 §3.5 names Authorization; a request the gateway authenticated otherwise (an API key
// header) is just as personal.
function isAuthorized(exchange: Exchange): boolean {
  return exchange.headers.authorization !== undefined || exchange.identity !== undefined;
}

function isConditional(exchange: Exchange): boolean {
  const headers = exchange.headers;
  return headers["if-none-match"] !== undefined || headers["if-modified-since"] !== undefined;
}

function withCacheStatus(response: GatewayResponse, cacheStatus: string): GatewayResponse {
  const headers = {
    ...response.headers,
    "cache-status": appendStatus(response.headers["cache-status"], cacheStatus),
  };
  return { status: response.status, headers, body: response.body, streamed: response.streamed };
}

// RFC 9211 §2: caches closer to the client append their member to the list.
function appendStatus(existing: string | readonly string[] | undefined, member: string): string {
  if (existing === undefined) return member;
  return `${typeof existing === "string" ? existing : existing.join(", ")}, ${member}`;
}

// The status the failed upstream step stands for, when the error says it.
function errorStatus(error: unknown): number | undefined {
  if (!isGatewayError(error)) return undefined;
  switch (error.code) {
    case GatewayErrorCode.BadGateway:
      return 502;
    case GatewayErrorCode.Unavailable:
      return 503;
    case GatewayErrorCode.GatewayTimeout:
      return 504;
    default:
      return undefined;
  }
}
