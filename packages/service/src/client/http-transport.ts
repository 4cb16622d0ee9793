import { channel } from "node:diagnostics_channel";
import { type CallSpan, injectContext, type Metrics, outboundCallSpan } from "@flotilla/observability";
import type { Discovery, ServiceInstance } from "@flotilla/registry";
import { type Clock, isTimeoutError, type PolicyContext } from "@flotilla/resilience";
import { Agent } from "undici";
import type { z } from "zod";
import { scopeHeaders } from "../context/request-scope.js";
import { WireUnavailableError } from "../wire/wire-connection.js";
import { WireConnections } from "../wire/wire-connections.js";
import { wireProtocol } from "../wire/wire-protocol.js";
import { type ExchangeResult, HttpExchange, ResponseTooLargeError } from "./http-exchange.js";
import type { OutboundCall } from "./outbound-call.js";
import { remoteProblem } from "./remote-problem.js";
import { type SchemaIssue, ServiceBadResponseError, ServiceConnectionError } from "./service-client-error.js";

/**
 * How outbound trace context is written:
 * - `auto` (default): with the active context's `traceparent`/`tracestate` (W3C, through the
 *   registered propagator), unless undici's diagnostics channel has a subscriber, which is the
 *   OpenTelemetry undici instrumentation (on by default in `initTelemetry`): it writes the context
 *   of the client span it creates for the request, and a second `traceparent` would make the
 *   header invalid;
 * - `always`: always, for a process whose undici subscriber does not propagate;
 * - `off`: never.
 */
export type TracePropagation = "auto" | "always" | "off";

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  readonly discovery: Discovery;
  readonly clock: Clock;
  /** Epoch milliseconds, to read HTTP-date `Retry-After`s. */
  readonly wallClock: () => number;
  /** `x-flotilla-caller`, when the caller said who it is. */
  readonly caller: string | undefined;
  readonly tracePropagation: TracePropagation;
  /** Options of the undici `Agent` that pools connections per instance. */
  readonly dispatcherOptions: Agent.Options | undefined;
  /** The largest response body accepted, in bytes; a larger one is a bad response. */
  readonly maxResponseBytes: number;
  /**
   * Send typed calls over the Flotilla wire protocol to instances that advertise it (one
   * multiplexed connection per instance), HTTP otherwise. Default `true`.
   */
  readonly wire?: boolean;
  /** Where each attempt's duration is recorded (`http_client_request_duration_seconds`, by callee service). */
  readonly metrics?: Pick<Metrics, "observeClient"> | undefined;
}

const accept = "application/json, application/problem+json";
const requestCreate = channel("undici:request:create");

/**
 * Sends one attempt of a call to one instance over a keep-alive connection pool per instance
 * (an undici `Agent`, one pool per origin, no pipelining by default, through `dispatch` with an
 * {@link HttpExchange} rather than `request()`'s body stream), with the deadline, caller,
 * idempotency key and trace headers, and reports the outcome to discovery. A success is decoded
 * (JSON) and, for a contract route, validated against the route's response schema; an error
 * status becomes a `RemoteServiceError`, a failure without a response a
 * `ServiceConnectionError`, and an abort the signal's reason (a `TimeoutError` from the timeout).
 */
export class HttpTransport {
  readonly agent: Agent;
  readonly #discovery: Discovery;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #caller: string | undefined;
  readonly #propagation: TracePropagation;
  readonly #maxResponseBytes: number;
  readonly #origins = new WeakMap<ServiceInstance, string>();
  readonly #wire: WireConnections | undefined;
  readonly #metrics: Pick<Metrics, "observeClient"> | undefined;

  constructor(options: HttpTransportOptions) {
    this.agent = new Agent({ pipelining: 1, ...options.dispatcherOptions });
    this.#discovery = options.discovery;
    this.#clock = options.clock;
    this.#wallClock = options.wallClock;
    this.#caller = options.caller;
    this.#propagation = options.tracePropagation;
    this.#maxResponseBytes = options.maxResponseBytes;
    this.#metrics = options.metrics;
    this.#wire =
      options.wire === false
        ? undefined
        : new WireConnections({ maxResponseBytes: options.maxResponseBytes, now: () => this.#clock.now() });
  }

  /**
   * Sends `call` to `instance` (picked from discovery for `service`, which this reports to) under
   * the attempt's context: its signal aborts the request, its deadline is what the header says
   * is left. Resolves with the decoded, validated body.
   */
  send(service: string, instance: ServiceInstance, call: OutboundCall, ctx: PolicyContext): Promise<unknown> {
    const wire = this.#wire;
    return this.#send(
      service,
      instance,
      call,
      ctx,
      wire !== undefined && call.route !== undefined && wire.accepts(instance) ? wire : undefined,
    );
  }

  async #send(
    service: string,
    instance: ServiceInstance,
    call: OutboundCall,
    ctx: PolicyContext,
    wire: WireConnections | undefined,
  ): Promise<unknown> {
    const headers: Record<string, string> = {};
    const extra = call.headers;
    if (extra !== undefined) for (const name in extra) headers[name] = extra[name]!;
    if (wire === undefined) headers.accept = accept;
    if (call.body !== undefined) headers["content-type"] = "application/json";
    const deadline = ctx.deadline;
    if (deadline !== undefined) headers[scopeHeaders.timeout] = String(Math.floor(deadline.remaining()));
    if (this.#caller !== undefined) headers[scopeHeaders.caller] = this.#caller;
    if (call.idempotencyKey !== undefined) headers[scopeHeaders.idempotencyKey] = call.idempotencyKey;
    const propagation = this.#propagation;
    let span: CallSpan | undefined;
    if (wire !== undefined) {
      // No undici request, so no instrumentation: the client span is this transport's.
      if (propagation !== "off") {
        span = outboundCallSpan({
          method: call.method,
          route: call.route!.path,
          protocol: wireProtocol.token,
          peerAddress: instance.address,
          peerPort: instance.port,
        });
        injectContext(headers, span.context);
      }
    } else if (propagation === "always" || (propagation === "auto" && !requestCreate.hasSubscribers)) {
      injectContext(headers);
    }

    const signal = ctx.signal;
    const started = this.#clock.now();
    let response: ExchangeResult;
    try {
      response = await (wire === undefined
        ? this.#exchange(instance, call, headers, signal)
        : wire.exchange(instance, call, headers, signal));
      span?.end(response.status);
    } catch (error) {
      span?.end(undefined, error);
      if (error instanceof WireUnavailableError && wire !== undefined) {
        // The call never reached the instance: HTTP gets the same answer the wire would have.
        if (error.refused) wire.refused(instance);
        return this.#send(service, instance, call, ctx, undefined);
      }
      const durationMs = this.#clock.now() - started;
      this.#metrics?.observeClient(call.method, service, undefined, durationMs / 1000);
      if (signal?.aborted && error === signal.reason) {
        // A timeout counts against the instance; the caller giving up does not.
        this.#discovery.report(
          service,
          instance,
          isTimeoutError(error) ? { error, durationMs } : { durationMs },
        );
        throw error;
      }
      this.#discovery.report(service, instance, { error, durationMs });
      if (error instanceof ResponseTooLargeError) {
        throw new ServiceBadResponseError({
          service,
          route: call.label,
          status: 0,
          instance: instance.id,
          reason: error.message,
          cause: error,
        });
      }
      throw new ServiceConnectionError(service, instance.id, error);
    }
    const { status, contentType, retryAfter, body: text } = response;
    const durationMs = this.#clock.now() - started;
    this.#metrics?.observeClient(call.method, service, status, durationMs / 1000);
    if (status >= 200 && status < 300) {
      let value: unknown;
      try {
        value = decode(call, service, instance, status, contentType, text);
      } catch (error) {
        // A response the contract does not describe is a fault of that instance (a bad deploy).
        this.#discovery.report(service, instance, { error, durationMs });
        throw error;
      }
      this.#discovery.report(service, instance, { status, durationMs });
      return value;
    }
    this.#discovery.report(service, instance, { status, durationMs });
    throw remoteProblem(
      { service, instance: instance.id, status, contentType, retryAfter, body: text },
      this.#wallClock,
    );
  }

  /** Closes every pooled connection, after the requests in flight. */
  async close(): Promise<void> {
    await Promise.all([this.agent.close(), this.#wire?.close()]);
  }

  #exchange(
    instance: ServiceInstance,
    call: OutboundCall,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<ExchangeResult> {
    const exchange = new HttpExchange(signal, this.#maxResponseBytes);
    this.agent.dispatch(
      {
        origin: this.#origin(instance),
        path: call.path,
        method: call.method as "GET",
        headers,
        body: call.body ?? null,
      },
      exchange,
    );
    return exchange.promise;
  }

  #origin(instance: ServiceInstance): string {
    let origin = this.#origins.get(instance);
    if (origin === undefined) {
      const host = instance.address.includes(":") ? `[${instance.address}]` : instance.address;
      origin = `http://${host}:${instance.port}`;
      this.#origins.set(instance, origin);
    }
    return origin;
  }
}

/** Creates an {@link HttpTransport}. */
export function httpTransport(options: HttpTransportOptions): HttpTransport {
  return new HttpTransport(options);
}

/**
 * The value of a success body: JSON, checked against the route's response schema. An untyped
 * call gets JSON when the body says it is JSON, the text otherwise, and `undefined` for no body.
 */
function decode(
  call: OutboundCall,
  service: string,
  instance: ServiceInstance,
  status: number,
  contentType: string | undefined,
  text: string,
): unknown {
  const route = call.route;
  let value: unknown;
  if (text === "") value = undefined;
  else if (route === undefined && (contentType === undefined || !/json/i.test(contentType))) return text;
  else {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ServiceBadResponseError({
        service,
        route: call.label,
        status,
        instance: instance.id,
        reason: `the body is not JSON (content-type ${contentType ?? "none"})`,
        cause: error,
      });
    }
  }
  if (route === undefined) return value;
  const result = (route.response as z.ZodType).safeParse(value);
  if (result.success) return result.data;
  const issues: SchemaIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
    code: issue.code,
  }));
  throw new ServiceBadResponseError({
    service,
    route: call.label,
    status,
    instance: instance.id,
    issues,
    reason: `does not match the response schema: ${issues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; ")}`,
    cause: result.error,
  });
}
