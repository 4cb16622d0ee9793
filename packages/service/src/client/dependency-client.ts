import { randomUUID } from "node:crypto";
import type { ClientLogger, Discovery, InstanceFilters, ServiceInstance } from "@flotilla/registry";
import {
  Bulkhead,
  CircuitBreaker,
  type Clock,
  Deadline,
  DeadlineExceededError,
  Fallback,
  type FallbackOptions,
  httpRetryClassifier,
  isBulkheadFullError,
  isBulkheadQueueTimeoutError,
  isDeadlineExceededError,
  isFlotillaError,
  isPending,
  type Operation,
  Pipeline,
  type Policy,
  type PolicyContext,
  RateLimiter,
  Retry,
  Timeout,
} from "@flotilla/resilience";
import type { z } from "zod";
import { currentRequestScope } from "../context/request-scope.js";
import type { CallOptions } from "../contract/client-types.js";
import type { AnyRoute } from "../contract/route.js";
import type { ResolvedDependencyPolicies, ResolvedFallback } from "./dependency-policies.js";
import type { FallbackQueue, QueuedCall } from "./fallback-queue.js";
import type { HttpTransport } from "./http-transport.js";
import { OutboundCall } from "./outbound-call.js";
import {
  isRemoteServiceError,
  ServiceCallQueuedError,
  ServiceClientErrorCode,
  ServiceClientsClosedError,
  ServiceNoInstanceError,
} from "./service-client-error.js";

/** The code of the server's 409 for a key whose first request still runs (`ServiceErrorCode.IdempotencyInProgress`). */
const idempotencyInProgressCode = "FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS";

/** What a {@link DependencyClient} shares with the others of one `serviceClients`. */
export interface DependencyContext {
  readonly transport: HttpTransport;
  readonly discovery: Discovery;
  readonly clock: Clock;
  /** Epoch milliseconds, the time line of deadlines in `CallOptions` and request scopes. */
  readonly wallClock: () => number;
  readonly fallbackQueue: FallbackQueue | undefined;
  readonly logger: ClientLogger | undefined;
  /** True once the clients are closed. */
  readonly closed: () => boolean;
}

/** The policy a route's calls run under, and what its fallback needs from a call. */
export interface RoutePolicy {
  readonly policy: Policy;
  /** The fallback may queue the call: a `PendingMarker` result becomes a `ServiceCallQueuedError`. */
  readonly queues: boolean;
  /** The fallback has a stale cache, keyed by method, path and query. */
  readonly keyed: boolean;
}

/** What starts a call: the request, built by a typed method or by `call()`. */
export interface CallRequest {
  readonly label: string;
  readonly route: AnyRoute | undefined;
  readonly method: string;
  readonly path: string;
  readonly body: string | undefined;
  readonly idempotent: boolean;
}

/**
 * One dependency of a service: its policies, built once from configuration, and the attempt that
 * picks an instance (a different one on each retry, only in the required version range) and sends
 * the request. Every attempt is reported to discovery, which feeds the balancer and the outlier
 * detector.
 */
export class DependencyClient {
  /** The callee's registry name. */
  readonly service: string;
  /** The required semver range, if any. */
  readonly versions: string | undefined;
  /** The circuit breaker, when configured (for snapshots and admin transitions). */
  readonly breaker: CircuitBreaker | undefined;
  /** The bulkhead, when configured. */
  readonly bulkhead: Bulkhead | undefined;
  /** The retry, when configured. */
  readonly retry: Retry | undefined;
  readonly #context: DependencyContext;
  readonly #policies: ResolvedDependencyPolicies;
  /** Rate limit → timeout → retry → breaker → attempt timeout → bulkhead; the fallback goes around it per route. */
  readonly #core: Policy;
  readonly #filters: InstanceFilters | undefined;
  readonly #firstPick: { readonly filters: InstanceFilters } | undefined;
  /** Non-idempotent calls get an idempotency key when none was given: retries or a queue may send them twice. */
  readonly #autoKey: boolean;
  readonly #shared = new Map<ResolvedFallback | undefined, RoutePolicy>();

  constructor(
    service: string,
    versions: string | undefined,
    policies: ResolvedDependencyPolicies,
    context: DependencyContext,
  ) {
    this.service = service;
    this.versions = versions;
    this.#context = context;
    this.#policies = policies;
    this.#filters = versions === undefined ? undefined : { version: versions };
    this.#firstPick = this.#filters === undefined ? undefined : { filters: this.#filters };
    const clock = context.clock;
    const chain: Policy[] = [];
    if (policies.rateLimit !== undefined) {
      chain.push(new RateLimiter({ ...policies.rateLimit, name: service, clock }));
    }
    chain.push(new Timeout({ duration: policies.timeoutMs, name: service, clock }));
    if (policies.retry !== undefined) {
      // Only `retryOn`: an attempt throws for every error status, so what it returns is a success
      // (whose body might well have a `status` field of its own).
      const http = httpRetryClassifier({ retry500: policies.retry.retry500 }).retryOn;
      this.retry = new Retry({
        ...policies.retry.options,
        retryOn: (error, attempt) => http(error, attempt) || isIdempotencyInProgress(error),
        name: service,
        clock,
      });
      chain.push(this.retry);
    }
    if (policies.breaker !== undefined) {
      this.breaker = new CircuitBreaker({
        ...policies.breaker,
        name: service,
        clock,
        ignoreExceptions: notTheDependencysFault,
        recordExceptions: isDependencyFailure,
      });
      chain.push(this.breaker);
    }
    if (policies.attemptTimeoutMs !== undefined) {
      chain.push(new Timeout({ duration: policies.attemptTimeoutMs, name: `${service}-attempt`, clock }));
    }
    if (policies.bulkhead !== undefined) {
      this.bulkhead = new Bulkhead({
        ...(policies.bulkhead as { maxConcurrent: number }),
        name: service,
        clock,
      });
      chain.push(this.bulkhead);
    }
    this.#core = chain.length === 1 ? chain[0]! : new Pipeline(chain);
    let queues = policies.fallback?.type === "queue";
    for (const fallback of policies.routeFallbacks.values()) if (fallback?.type === "queue") queues = true;
    this.#autoKey = policies.retry !== undefined || queues;
    this.#logEvents(context.logger);
  }

  /**
   * The policy for a route: the core, inside the route's fallback (its own, or the dependency's).
   * Routes with the same fallback share one policy, and so one stale cache; a `value` fallback is
   * the route's own, holding the value as the route's response schema outputs it.
   */
  routePolicy(name: string | undefined, route?: AnyRoute): RoutePolicy {
    const own = name === undefined ? undefined : this.#policies.routeFallbacks.get(name);
    const fallback = own === undefined ? this.#policies.fallback : (own ?? undefined);
    if (fallback?.type === "value" && route !== undefined) {
      // Checked at construction, so the parse succeeds.
      const value: unknown = (route.response as z.ZodType).parse(fallback.value);
      return this.#build({ type: "value", value });
    }
    let shared = this.#shared.get(fallback);
    if (shared === undefined) {
      shared = this.#build(fallback);
      this.#shared.set(fallback, shared);
    }
    return shared;
  }

  #build(fallback: ResolvedFallback | undefined): RoutePolicy {
    if (fallback === undefined) return { policy: this.#core, queues: false, keyed: false };
    return {
      policy: new Pipeline([new Fallback(this.#fallbackOptions(fallback)), this.#core]),
      queues: fallback.type === "queue",
      keyed: fallback.type === "stale-cache",
    };
  }

  /**
   * Starts a call: takes the earliest of the caller's and the current request's deadlines (and
   * fails fast, before any policy or network work, when it is already spent), combines their
   * signals, adds an idempotency key where retries or a queue need one, and runs the route's
   * policy around the attempts.
   */
  start(request: CallRequest, routePolicy: RoutePolicy, options: CallOptions | undefined): Promise<unknown> {
    const context = this.#context;
    if (context.closed()) return Promise.reject(new ServiceClientsClosedError());
    const scope = currentRequestScope();
    let at = options?.deadline;
    const scoped = scope?.deadline;
    if (scoped !== undefined && (at === undefined || scoped < at)) at = scoped;
    let deadline: Deadline | undefined;
    if (at !== undefined) {
      const left = at - context.wallClock();
      if (!(left > 0)) {
        return Promise.reject(
          new DeadlineExceededError(
            `${this.service} ${request.label}: the deadline was spent before the call`,
          ),
        );
      }
      deadline = new Deadline(context.clock.now() + left, context.clock);
    }
    let signal = options?.signal;
    const scopeSignal = scope?.signal;
    if (scopeSignal !== undefined)
      signal = signal === undefined ? scopeSignal : AbortSignal.any([signal, scopeSignal]);
    if (signal?.aborted) return Promise.reject(signal.reason);
    let idempotencyKey = options?.idempotencyKey;
    if (idempotencyKey === undefined && !request.idempotent && this.#autoKey) idempotencyKey = randomUUID();
    const call = new OutboundCall({
      service: this.service,
      label: request.label,
      route: request.route,
      method: request.method,
      path: request.path,
      body: request.body,
      idempotencyKey,
      headers: options?.headers,
      signal,
      deadline,
      key: routePolicy.keyed ? `${request.method} ${request.path}` : undefined,
    });
    const attempt: Operation<unknown> = (ctx) => this.#attempt(call, ctx);
    const result = routePolicy.policy.execute(attempt, call);
    return routePolicy.queues ? result.then((value) => this.#unlessQueued(call, value)) : result;
  }

  /** One attempt: an instance not tried yet by this call, in the version range, then the request. */
  #attempt(call: OutboundCall, ctx: PolicyContext): Promise<unknown> {
    const discovery = this.#context.discovery;
    const tried = call.triedSet();
    const instance =
      tried === undefined
        ? discovery.pick(this.service, this.#firstPick)
        : discovery.pick(this.service, { exclude: tried, filters: this.#filters });
    if (instance === undefined) return this.#attemptWhenReady(call, ctx);
    call.triedInstance(instance.id);
    return this.#context.transport.send(this.service, instance, call, ctx);
  }

  /** The cold path of an attempt: discovery had no instance yet. */
  async #attemptWhenReady(call: OutboundCall, ctx: PolicyContext): Promise<unknown> {
    const instance = await this.#firstInstance(this.service, this.#filters, this.versions, ctx);
    call.triedInstance(instance.id);
    return this.#context.transport.send(this.service, instance, call, ctx);
  }

  /**
   * Waits for discovery to hear about the service (its first pick may come before the cache's
   * first answer), within the attempt's signal, then picks again.
   */
  async #firstInstance(
    service: string,
    filters: InstanceFilters | undefined,
    versions: string | undefined,
    ctx: PolicyContext,
  ): Promise<ServiceInstance> {
    const discovery = this.#context.discovery;
    try {
      await untilAborted(discovery.ready(service, filters), ctx.signal);
    } catch (error) {
      if (ctx.signal?.aborted && error === ctx.signal.reason) throw error;
      throw new ServiceNoInstanceError(service, versions, { cause: error });
    }
    const instance = discovery.pick(service, filters === undefined ? undefined : { filters });
    if (instance === undefined) throw new ServiceNoInstanceError(service, versions);
    return instance;
  }

  #unlessQueued(call: OutboundCall, value: unknown): unknown {
    if (!isPending(value)) return value;
    throw new ServiceCallQueuedError(this.service, call.label, value.id, undefined);
  }

  #fallbackOptions(fallback: ResolvedFallback): FallbackOptions {
    const base = { name: this.service, clock: this.#context.clock, handle: fallsBack };
    switch (fallback.type) {
      case "value":
        return { ...base, value: fallback.value };
      case "stale-cache":
        return {
          ...base,
          staleCache: {
            ttl: fallback.ttl,
            ...(fallback.maxEntries === undefined ? {} : { maxEntries: fallback.maxEntries }),
          },
        };
      case "service": {
        const timeout = new Timeout({
          duration: this.#policies.timeoutMs,
          name: `${this.service}-fallback-${fallback.service}`,
          clock: this.#context.clock,
        });
        const filters = fallback.versions === undefined ? undefined : { version: fallback.versions };
        return {
          ...base,
          alternative: (ctx) => {
            const call = ctx as OutboundCall;
            return timeout.execute(async (inner) => {
              const discovery = this.#context.discovery;
              const instance =
                discovery.pick(fallback.service, filters === undefined ? undefined : { filters }) ??
                (await this.#firstInstance(fallback.service, filters, fallback.versions, inner));
              return this.#context.transport.send(fallback.service, instance, call, inner);
            }, call);
          },
        };
      }
      case "queue": {
        const queue = this.#context.fallbackQueue!;
        return {
          ...base,
          later: {
            queue: { enqueue: (job) => queue.enqueue(job as QueuedCall) },
            job: (ctx, error): QueuedCall => {
              const call = ctx as OutboundCall;
              return {
                service: this.service,
                route: call.route === undefined ? undefined : call.label,
                method: call.method,
                path: call.path,
                body: call.body,
                idempotencyKey: call.idempotencyKey,
                versions: this.versions,
                reason: isFlotillaError(error)
                  ? error.code
                  : error instanceof Error
                    ? error.message
                    : String(error),
              };
            },
          },
        };
      }
    }
  }

  #logEvents(logger: ClientLogger | undefined): void {
    if (logger === undefined) return;
    const service = this.service;
    this.breaker?.events.subscribe((event) => {
      if (event.type === "stateTransition") {
        logger.warn(
          { service, from: event.from, to: event.to },
          `circuit breaker of ${service}: ${event.from} → ${event.to}`,
        );
      }
    });
    this.retry?.events.subscribe((event) => {
      if (event.type === "retry") {
        logger.debug(
          { service, attempt: event.attempt, delayMs: event.delayMs, err: event.error },
          `retrying a call to ${service}`,
        );
      }
    });
  }
}

/**
 * Errors the breaker does not record at all: a full bulkhead (the caller's own limit), a call
 * the client refused to make, a deadline spent before the attempt.
 */
function notTheDependencysFault(error: unknown): boolean {
  return (
    isBulkheadFullError(error) ||
    isBulkheadQueueTimeoutError(error) ||
    isDeadlineExceededError(error) ||
    (isFlotillaError(error) && error.code === ServiceClientErrorCode.InvalidCall)
  );
}

/**
 * A 409 `FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS`: an earlier attempt of the same call (same key) is
 * still running, perhaps on another instance; the retry waits its `Retry-After` and gets the
 * stored answer.
 */
function isIdempotencyInProgress(error: unknown): boolean {
  return (
    isRemoteServiceError(error) && error.status === 409 && error.remoteCode === idempotencyInProgressCode
  );
}

/** What counts as a failure of the dependency: everything but an answer the callee chose (4xx other than 408). */
function isDependencyFailure(error: unknown): boolean {
  if (isRemoteServiceError(error)) return error.status >= 500 || error.status === 408;
  return true;
}

/** What a fallback answers for: dependency failures, and 408 and 429, never a 4xx the callee chose. */
function fallsBack(error: unknown): boolean {
  if (isRemoteServiceError(error)) return error.status >= 500 || error.status === 408 || error.status === 429;
  if (isFlotillaError(error)) {
    return (
      error.code !== ServiceClientErrorCode.InvalidCall && error.code !== ServiceClientErrorCode.ClientsClosed
    );
  }
  return true;
}

/** `promise`, or a rejection with the signal's reason when it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
