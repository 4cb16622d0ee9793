import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { untraced } from "@flotilla/observability";
import { type Clock, ConfigReader, TimeoutError } from "@flotilla/resilience";
import { Agent, type Dispatcher } from "undici";
import type { RegistrationRequest, RegistrationResponse } from "../registration.js";
import {
  RegistryError,
  RegistryErrorCode,
  RegistryInvalidRequestError,
  RegistryUnknownLeaseError,
  type RequestIssue,
} from "../registry-error.js";
import type {
  BlockingOptions,
  CallOptions,
  InstanceFilters,
  InstancesDelta,
  InstancesQuery,
  InstancesResult,
  RegistryApi,
} from "./registry-api.js";
import { SseParser } from "./sse-parser.js";

/** Options of {@link registryClient}. */
export interface RegistryClientOptions {
  /**
   * The registry's base URL (`http://127.0.0.1:8500`, a path prefix allowed), or several
   * registry servers: each call tries them in order from the last one that answered and sticks to
   * the first that does.
   */
  readonly url: string | readonly string[];
  /** Send through this dispatcher, which the caller owns: {@link RegistryClient.close} leaves it open. */
  readonly dispatcher?: Dispatcher | undefined;
  /** Options of the keep-alive undici `Agent` the client makes when no `dispatcher` is given. */
  readonly agent?: Agent.Options | undefined;
  /**
   * How long a call may take, in milliseconds (default 5 s). A blocking query may take its wait
   * (plus the registry's 1/16 jitter) on top.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * How long an SSE stream may stay silent before it counts as broken (default 45 s: three of the
   * registry's 15 s pings).
   */
  readonly streamIdleTimeoutMs?: number | undefined;
  /** Time source for call timeouts. Default the system clock. */
  readonly clock?: Clock | undefined;
}

/** One service in {@link RegistryClient.services}' answer. */
export interface ServiceSummary {
  readonly name: string;
  /** Registered instances, in any state. */
  readonly instances: number;
  /** Of those, the passing ones. */
  readonly passing: number;
}

/** The answer of `GET /v1/services`. */
export interface ServicesResult {
  readonly index: number;
  readonly services: readonly ServiceSummary[];
}

/** A KV entry as the registry returns it. */
export interface KvEntry {
  readonly key: string;
  readonly value: string;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** The answer of `GET /v1/kv/{key}`: the entry, or `undefined` when the key is absent. */
export interface KvGetResult {
  readonly index: number;
  readonly entry: KvEntry | undefined;
}

/** The answer of `GET /v1/kv?prefix=`. */
export interface KvListResult {
  readonly index: number;
  readonly entries: readonly KvEntry[];
}

/** Options of {@link RegistryClient.kvPut} and {@link RegistryClient.kvDelete}. */
export interface KvWriteOptions extends CallOptions {
  /** `0`: only create; `n`: only when the key's current `modifyIndex` is `n`. */
  readonly cas?: number | undefined;
}

/**
 * What {@link RegistryClient.kvPut} did: `ok` with the key's new `modifyIndex`, or, on a `cas`
 * mismatch, not `ok` with the key's current `modifyIndex` (0 when it does not exist).
 */
export type KvPutResult =
  | { readonly ok: true; readonly modifyIndex: number }
  | { readonly ok: false; readonly modifyIndex: number };

/**
 * What {@link RegistryClient.kvDelete} did: `ok` with the index of the deletion, or not `ok`
 * because the key is absent (`found: false`) or its `modifyIndex` did not match `cas`.
 */
export type KvDeleteResult =
  | { readonly ok: true; readonly index: number }
  | { readonly ok: false; readonly found: boolean; readonly modifyIndex: number };

/** The answer of `GET /health`. */
export interface RegistryHealth {
  readonly status: "pass" | "warn" | "fail";
  readonly selfPreservation: boolean;
  readonly store: string;
}

/** Callbacks and options of an SSE stream ({@link RegistryClient.streamInstances}). */
export interface StreamHandlers<T> {
  /** The registry accepted the stream (before any event): a good moment to reset a reconnect backoff. */
  onOpen?(): void;
  /** The first event: the full current result (skipped when resuming with nothing changed). */
  onSnapshot?(result: T): void;
  /** The full new result after each change. */
  onUpdate?(result: T): void;
  /** The stream failed (could not connect, refused, broke, went silent); it has ended. */
  onError?(error: Error): void;
  /** Ends the stream; the returned promise then resolves without an error. */
  readonly signal?: AbortSignal | undefined;
  /** Resume after this event id (`Last-Event-ID`): no snapshot when nothing changed since. */
  readonly lastEventId?: string | undefined;
}

/**
 * The handlers of {@link RegistryClient.streamInstances}. With `onDelta`, the stream asks the
 * registry for `delta` events (`?deltas=true`): after the snapshot each change comes as what changed
 * rather than the whole list, and `onUpdate` is only called by a registry too old to send deltas.
 * A `snapshot` may then also come mid-stream (after the registry's store lost its state, or when
 * most of the list changed); it replaces the list.
 */
export interface InstanceStreamHandlers extends StreamHandlers<InstancesResult> {
  /** A change to apply to the list held at `delta.from`, the index of the previous event. */
  onDelta?(delta: InstancesDelta): void;
}

/** How an SSE stream ended. */
export interface StreamEnd {
  /** The id of the last event received (or the `lastEventId` it resumed from): pass it to resume. */
  readonly lastEventId: string | undefined;
  /** Why the stream ended, unless the server closed it or the signal aborted it. */
  readonly error: Error | undefined;
}

/** Which KV entries {@link RegistryClient.streamKv} follows. */
export type KvSelector = { readonly prefix: string } | { readonly key: string };

interface Target {
  readonly origin: string;
  readonly basePath: string;
}

interface HttpRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly signal?: AbortSignal | undefined;
  /** Milliseconds the call may take on top of `timeoutMs` (a blocking query's wait). */
  readonly extraMs?: number;
}

interface HttpResponse {
  readonly status: number;
  readonly index: number | undefined;
  readonly text: string;
}

interface Problem {
  readonly title?: string;
  readonly detail?: string;
  readonly code?: string;
  readonly issues?: readonly RequestIssue[];
}

/** The registry's default blocking wait, which the call's timeout must cover when none is given. */
const defaultWaitMs = 30_000;

/**
 * The HTTP client of the registry API (`packages/registry/README.md`, "HTTP API"): a typed method
 * per endpoint over one keep-alive undici `Agent`. Errors are {@link RegistryError}s:
 *
 * - 400 → {@link RegistryInvalidRequestError} with the registry's `issues`;
 * - 404 `FLT_REGISTRY_UNKNOWN_LEASE` on renew → {@link RegistryUnknownLeaseError};
 * - 429 and 413 → `FLT_REGISTRY_LIMIT_EXCEEDED`;
 * - no connection, a timeout, or a 5xx from every server → `FLT_REGISTRY_UNREACHABLE`, the last
 *   failure as `cause`.
 *
 * With several URLs a call that finds a server unreachable (or answering 5xx) is sent to the next
 * one, so every call must be safe to repeat; they are, except that a `cas` write whose first
 * attempt timed out after the server applied it reports a mismatch on the second server.
 *
 * An aborted `signal` rejects the call with the signal's reason, untouched.
 */
export class RegistryClient implements RegistryApi {
  readonly #targets: readonly Target[];
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #streamIdleTimeoutMs: number;
  readonly #clock: Clock;
  /** The target that answered last; calls start there. */
  #current = 0;
  #closed = false;

  /** Validates `options`; a bad one throws a `ConfigError` naming its path. */
  constructor(options: RegistryClientOptions) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, ["url", "dispatcher", "agent", "timeoutMs", "streamIdleTimeoutMs", "clock"], "");
    this.#targets = parseUrls(obj.url, reader);
    this.#timeoutMs = reader.duration(obj, "timeoutMs", "", 5_000, { above: 0 });
    this.#streamIdleTimeoutMs = reader.duration(obj, "streamIdleTimeoutMs", "", 45_000, { above: 0 });
    this.#clock = reader.clock(obj, "clock", "");
    reader.throwIfInvalid();
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, ...(options.agent ?? {}) });
  }

  /** The registry base URLs, in the order calls try them. */
  get urls(): readonly string[] {
    return this.#targets.map((t) => t.origin + t.basePath);
  }

  /** `POST /v1/instances`: registers (or replaces) an instance and grants its lease. */
  async register(request: RegistrationRequest, options: CallOptions = {}): Promise<RegistrationResponse> {
    const res = await this.#send({
      method: "POST",
      path: "/v1/instances",
      body: JSON.stringify(request),
      contentType: "application/json",
      signal: options.signal,
    });
    if (res.status !== 200 && res.status !== 201) throw failure(res);
    return JSON.parse(res.text) as RegistrationResponse;
  }

  /** `PUT /v1/leases/{lease}/renew`; an unknown lease rejects with {@link RegistryUnknownLeaseError}. */
  async renew(leaseId: string, options: CallOptions = {}): Promise<{ readonly ttlMs: number }> {
    const res = await this.#send({
      method: "PUT",
      path: `/v1/leases/${encodeURIComponent(leaseId)}/renew`,
      signal: options.signal,
    });
    if (res.status === 404) throw new RegistryUnknownLeaseError(leaseId);
    if (res.status !== 200) throw failure(res);
    const body = JSON.parse(res.text) as { ttlMs: number };
    return { ttlMs: body.ttlMs };
  }

  /** `DELETE /v1/instances/{service}/{id}`: `true` when removed, `false` when the registry did not know it. */
  async deregister(service: string, id: string, options: CallOptions = {}): Promise<boolean> {
    const res = await this.#send({
      method: "DELETE",
      path: `/v1/instances/${encodeURIComponent(service)}/${encodeURIComponent(id)}`,
      signal: options.signal,
    });
    if (res.status === 404) return false;
    if (res.status !== 200) throw failure(res);
    return true;
  }

  /** `GET /v1/services` (blocking): every service with its instance counts. */
  async services(options: BlockingOptions = {}): Promise<ServicesResult> {
    const res = await this.#send(this.#get("/v1/services", new URLSearchParams(), options));
    if (res.status !== 200) throw failure(res);
    const body = JSON.parse(res.text) as { index?: number; services: ServiceSummary[] };
    return { index: res.index ?? body.index ?? 0, services: body.services };
  }

  /** `GET /v1/services/{service}` (blocking): the instances that pass the filters; none for an unknown service. */
  async instances(service: string, query: InstancesQuery = {}): Promise<InstancesResult> {
    const res = await this.#send(
      this.#get(`/v1/services/${encodeURIComponent(service)}`, filterParams(query), query),
    );
    if (res.status !== 200) throw failure(res);
    const body = JSON.parse(res.text) as InstancesResult;
    return { index: res.index ?? body.index, instances: body.instances };
  }

  /** `GET /v1/kv/{key}` (blocking): the entry, or `undefined` when absent (a blocking read waits for its creation). */
  async kvGet(key: string, options: BlockingOptions = {}): Promise<KvGetResult> {
    const res = await this.#send(this.#get(kvPath(key), new URLSearchParams(), options));
    if (res.status === 404) return { index: res.index ?? 0, entry: undefined };
    if (res.status !== 200) throw failure(res);
    const entry = JSON.parse(res.text) as KvEntry;
    return { index: res.index ?? entry.modifyIndex, entry };
  }

  /** `GET /v1/kv?prefix=` (blocking): every entry under `prefix`, sorted by key. */
  async kvList(prefix: string, options: BlockingOptions = {}): Promise<KvListResult> {
    const res = await this.#send(this.#get("/v1/kv", new URLSearchParams({ prefix }), options));
    if (res.status !== 200) throw failure(res);
    const body = JSON.parse(res.text) as KvListResult;
    return { index: res.index ?? body.index, entries: body.entries };
  }

  /** `PUT /v1/kv/{key}[?cas=N]`: writes `value`; a `cas` mismatch resolves `ok: false`. */
  async kvPut(key: string, value: string, options: KvWriteOptions = {}): Promise<KvPutResult> {
    const res = await this.#send({
      method: "PUT",
      path: withQuery(kvPath(key), casParams(options.cas)),
      body: value,
      contentType: "text/plain; charset=utf-8",
      signal: options.signal,
    });
    if (res.status === 409) {
      return { ok: false, modifyIndex: readModifyIndex(res.text) };
    }
    if (res.status !== 200) throw failure(res);
    const body = JSON.parse(res.text) as { modifyIndex: number };
    return { ok: true, modifyIndex: body.modifyIndex };
  }

  /** `DELETE /v1/kv/{key}[?cas=N]`: an absent key or a `cas` mismatch resolves `ok: false`. */
  async kvDelete(key: string, options: KvWriteOptions = {}): Promise<KvDeleteResult> {
    const res = await this.#send({
      method: "DELETE",
      path: withQuery(kvPath(key), casParams(options.cas)),
      signal: options.signal,
    });
    if (res.status === 404) return { ok: false, found: false, modifyIndex: 0 };
    if (res.status === 409) return { ok: false, found: true, modifyIndex: readModifyIndex(res.text) };
    if (res.status !== 200) throw failure(res);
    const body = JSON.parse(res.text) as { index: number };
    return { ok: true, index: res.index ?? body.index };
  }

  /** `GET /health`: the registry's own view of its health (a `fail` answer resolves too). */
  async health(options: CallOptions = {}): Promise<RegistryHealth> {
    const res = await this.#send({ method: "GET", path: "/health", signal: options.signal }, true);
    if (res.status !== 200 && res.status !== 503) throw failure(res);
    return JSON.parse(res.text) as RegistryHealth;
  }

  /**
   * Follows `GET /v1/services/{service}/stream` (SSE): `onSnapshot` with the current instances,
   * then `onUpdate` with the full new list after every change — or, given `onDelta`, `onDelta` with
   * each change ({@link InstanceStreamHandlers}). Resolves when the stream ends —
   * aborted by `signal`, closed by the server, or failed (then `onError` is called first and
   * `error` is set); it never rejects. Reconnecting is the caller's job: call again with the
   * returned `lastEventId` to resume without a redundant snapshot.
   */
  streamInstances(
    service: string,
    filters: InstanceFilters,
    handlers: InstanceStreamHandlers,
  ): Promise<StreamEnd> {
    const params = filterParams(filters);
    if (handlers.onDelta !== undefined) params.set("deltas", "true");
    return this.#stream(withQuery(`/v1/services/${encodeURIComponent(service)}/stream`, params), handlers);
  }

  /** Follows `GET /v1/kv-stream` (SSE) for a prefix or one key; otherwise as {@link RegistryClient.streamInstances}. */
  streamKv(selector: KvSelector, handlers: StreamHandlers<KvListResult>): Promise<StreamEnd> {
    const params = new URLSearchParams(
      "key" in selector ? { key: selector.key } : { prefix: selector.prefix },
    );
    return this.#stream(withQuery("/v1/kv-stream", params), handlers);
  }

  /**
   * Closes the client's own Agent and its keep-alive connections, once the calls in flight have
   * ended — so close the caches, streams and registrations that use the client first (they end
   * their streams and queries). A given `dispatcher` stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  #get(path: string, params: URLSearchParams, options: BlockingOptions): HttpRequest {
    let extraMs = 0;
    if (options.index !== undefined) {
      params.set("index", String(options.index));
      const wait = options.waitMs ?? defaultWaitMs;
      if (options.waitMs !== undefined) params.set("wait", `${Math.round(options.waitMs)}ms`);
      extraMs = Math.ceil(wait + wait / 16);
    }
    return { method: "GET", path: withQuery(path, params), signal: options.signal, extraMs };
  }

  /**
   * Sends `request` to the targets in turn, from the current one, until one answers below 500;
   * with `any5xx` a 5xx answer is returned too (the health endpoint's 503 is an answer).
   */
  async #send(request: HttpRequest, any5xx = false): Promise<HttpResponse> {
    let lastError: unknown;
    const count = this.#targets.length;
    for (let k = 0; k < count; k++) {
      const at = (this.#current + k) % count;
      const target = this.#targets[at]!;
      try {
        const res = await this.#sendTo(target, request);
        if (res.status >= 500 && !(any5xx && res.status === 503)) {
          lastError = serverError(res);
          continue;
        }
        this.#current = at;
        return res;
      } catch (error) {
        if (request.signal?.aborted) throw request.signal.reason;
        lastError = error;
      }
    }
    throw unreachable(this.#targets, lastError);
  }

  async #sendTo(target: Target, request: HttpRequest): Promise<HttpResponse> {
    const budget = this.#timeoutMs + (request.extraMs ?? 0);
    const link = linkedAbort(request.signal);
    const timer = this.#clock.setTimeout(() => link.abort(new TimeoutError(budget)), budget, true);
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (request.contentType !== undefined) headers["content-type"] = request.contentType;
      const res = await untraced(() =>
        this.#dispatcher.request({
          origin: target.origin,
          path: target.basePath + request.path,
          method: request.method,
          headers,
          body: request.body ?? null,
          signal: link.signal,
          headersTimeout: 0,
          bodyTimeout: 0,
        }),
      );
      const text = await res.body.text();
      return { status: res.statusCode, index: readIndex(res.headers["x-flotilla-index"]), text };
    } catch (error) {
      throw link.signal.aborted ? link.signal.reason : error;
    } finally {
      this.#clock.clearTimeout(timer);
      link.release();
    }
  }

  async #stream<T>(
    path: string,
    handlers: StreamHandlers<T> & Pick<InstanceStreamHandlers, "onDelta">,
  ): Promise<StreamEnd> {
    const { signal } = handlers;
    let lastEventId = handlers.lastEventId;
    let stream: OpenStream | undefined;
    try {
      stream = await this.#openStream(path, handlers);
      handlers.onOpen?.();
      const parser = new SseParser((event) => {
        if (event.lastEventId !== "") lastEventId = event.lastEventId;
        if (event.type === "delta") handlers.onDelta?.(JSON.parse(event.data) as InstancesDelta);
        else if (event.type === "snapshot") handlers.onSnapshot?.(JSON.parse(event.data) as T);
        else if (event.type === "update") handlers.onUpdate?.(JSON.parse(event.data) as T);
      });
      // A handler's (or JSON.parse's) error ends the stream with that error.
      let handlerError: { readonly error: unknown } | undefined;
      const body = stream.body;
      // 'data' events rather than `for await`: no promise and microtask per chunk.
      body.on("data", (chunk: Uint8Array) => {
        try {
          parser.push(chunk);
        } catch (error) {
          handlerError = { error };
          body.destroy();
        }
      });
      try {
        await finished(body);
      } catch (error) {
        if (handlerError !== undefined) throw handlerError.error;
        if (signal?.aborted) throw error;
        throw unreachable(this.#targets, error);
      }
      parser.end();
      return { lastEventId, error: undefined };
    } catch (error) {
      if (signal?.aborted) return { lastEventId, error: undefined };
      const err = error instanceof Error ? error : new Error(String(error));
      handlers.onError?.(err);
      return { lastEventId, error: err };
    } finally {
      stream?.release();
    }
  }

  /** Connects an SSE stream to the first target that accepts it. */
  async #openStream(path: string, handlers: StreamHandlers<unknown>): Promise<OpenStream> {
    const { signal } = handlers;
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (handlers.lastEventId !== undefined) headers["last-event-id"] = handlers.lastEventId;
    let lastError: unknown;
    const count = this.#targets.length;
    for (let k = 0; k < count; k++) {
      const at = (this.#current + k) % count;
      const target = this.#targets[at]!;
      const budget = this.#timeoutMs;
      // The timeout bounds the connection only; the stream then lives until `signal` or the server ends it.
      const link = linkedAbort(signal);
      const timer = this.#clock.setTimeout(() => link.abort(new TimeoutError(budget)), budget, true);
      let keep = false;
      try {
        const res = await untraced(() =>
          this.#dispatcher.request({
            origin: target.origin,
            path: target.basePath + path,
            method: "GET",
            headers,
            signal: link.signal,
            headersTimeout: 0,
            bodyTimeout: this.#streamIdleTimeoutMs,
          }),
        );
        if (res.statusCode === 200) {
          this.#current = at;
          keep = true;
          return { body: res.body, release: link.release };
        }
        const answer = { status: res.statusCode, index: undefined, text: await res.body.text() };
        if (res.statusCode < 500) throw failure(answer);
        lastError = serverError(answer);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof RegistryError) throw error;
        lastError = link.signal.aborted ? link.signal.reason : error;
      } finally {
        this.#clock.clearTimeout(timer);
        if (!keep) link.release();
      }
    }
    throw unreachable(this.#targets, lastError);
  }
}

interface OpenStream {
  readonly body: Readable;
  /** Detaches the stream's abort controller from the caller's signal. */
  release(): void;
}

interface LinkedAbort {
  readonly signal: AbortSignal;
  abort(reason: unknown): void;
  release(): void;
}

/**
 * An abort controller that also aborts when `parent` does, until released. Unlike
 * `AbortSignal.any`, it leaves nothing attached to a long-lived parent signal after the call.
 */
function linkedAbort(parent: AbortSignal | undefined): LinkedAbort {
  const controller = new AbortController();
  const abort = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const onParentAbort = () => abort(parent?.reason);
  if (parent?.aborted) abort(parent.reason);
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    abort,
    release: () => parent?.removeEventListener("abort", onParentAbort),
  };
}

/**
 * Creates a {@link RegistryClient}:
 *
 * ```ts
 * const registry = registryClient({ url: ["http://10.0.0.2:8500", "http://10.0.0.3:8500"] });
 * const { index, instances } = await registry.instances("orders", { version: "^2", index: 42, waitMs: 60_000 });
 * await registry.close();
 * ```
 */
export function registryClient(options: RegistryClientOptions): RegistryClient {
  return new RegistryClient(options);
}

function parseUrls(raw: unknown, reader: ConfigReader): Target[] {
  const list = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(list) || list.length === 0) {
    reader.issue("url", "expected a URL or a non-empty array of URLs");
    return [];
  }
  const targets: Target[] = [];
  list.forEach((value: unknown, i) => {
    const path = typeof raw === "string" ? "url" : `url[${i}]`;
    let url: URL | undefined;
    try {
      url = typeof value === "string" ? new URL(value) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      reader.issue(path, `expected an absolute http: or https: URL, got ${JSON.stringify(value)}`);
      return;
    }
    if (url.search !== "" || url.hash !== "") {
      reader.issue(path, "must not carry a query or a fragment");
      return;
    }
    targets.push({ origin: url.origin, basePath: url.pathname.replace(/\/+$/, "") });
  });
  return targets;
}

function filterParams(filters: InstanceFilters): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.version !== undefined) params.set("version", filters.version);
  for (const tag of filters.tags ?? []) params.append("tag", tag);
  if (filters.zone !== undefined) params.set("zone", filters.zone);
  if (filters.status !== undefined) params.set("status", filters.status);
  return params;
}

function casParams(cas: number | undefined): URLSearchParams {
  return cas === undefined ? new URLSearchParams() : new URLSearchParams({ cas: String(cas) });
}

function kvPath(key: string): string {
  return `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`;
}

function withQuery(path: string, params: URLSearchParams): string {
  const query = params.toString();
  return query === "" ? path : `${path}?${query}`;
}

function readIndex(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const index = Number(value);
  return Number.isSafeInteger(index) && index >= 0 ? index : undefined;
}

function readModifyIndex(text: string): number {
  try {
    const body = JSON.parse(text) as { modifyIndex?: unknown };
    return typeof body.modifyIndex === "number" ? body.modifyIndex : 0;
  } catch {
    return 0;
  }
}

function parseProblem(text: string): Problem {
  try {
    const body = JSON.parse(text) as unknown;
    return typeof body === "object" && body !== null ? (body as Problem) : {};
  } catch {
    return {};
  }
}

function describeProblem(res: HttpResponse, problem: Problem): string {
  const what = problem.detail ?? problem.title ?? (res.text.slice(0, 200) || "no body");
  return `registry answered HTTP ${res.status}: ${what}`;
}

/** Maps a 4xx answer to the error the caller can act on. */
function failure(res: HttpResponse): RegistryError {
  const problem = parseProblem(res.text);
  if (res.status === 400) {
    const issues =
      Array.isArray(problem.issues) && problem.issues.length > 0
        ? problem.issues
        : [{ path: "", message: problem.detail ?? problem.title ?? "bad request" }];
    return new RegistryInvalidRequestError(issues);
  }
  if (res.status === 429 || res.status === 413) {
    return new RegistryError(RegistryErrorCode.LimitExceeded, describeProblem(res, problem));
  }
  if (res.status >= 500) return serverError(res);
  return new RegistryError(
    knownCode(problem.code) ?? RegistryErrorCode.InvalidRequest,
    describeProblem(res, problem),
  );
}

/** A 5xx answer, kept as the `cause` of the unreachable error. */
function serverError(res: HttpResponse): RegistryError {
  const problem = parseProblem(res.text);
  return new RegistryError(
    knownCode(problem.code) ?? RegistryErrorCode.Unreachable,
    describeProblem(res, problem),
  );
}

function knownCode(code: string | undefined): RegistryErrorCode | undefined {
  const codes: readonly string[] = Object.values(RegistryErrorCode);
  return code !== undefined && codes.includes(code) ? (code as RegistryErrorCode) : undefined;
}

function unreachable(targets: readonly Target[], cause: unknown): RegistryError {
  const where = targets.map((t) => t.origin + t.basePath).join(", ");
  const why = cause instanceof Error ? cause.message : String(cause);
  return new RegistryError(RegistryErrorCode.Unreachable, `registry unreachable at ${where}: ${why}`, {
    cause,
  });
}
