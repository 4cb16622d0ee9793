import { type Clock, isTimeoutError, systemClock, type TimerHandle } from "@flotilla/resilience";
import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode, isGatewayError } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import { bufferedResponse, type GatewayResponse } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import type { UpstreamCaller, UpstreamReply } from "../chain/upstream-caller.js";
import { parseLayerOptions } from "../transform/option-schemas.js";
import { type CompositeConfig, type CompositeOptions, compositeOptionsSchema } from "./composite-options.js";
import { compilePathTemplate, type PathTemplate } from "./path-template.js";

/** What a composite endpoint needs besides its options; all optional. */
export interface CompositeEndpointDeps {
  /** Timers for part timeouts and the deadline; a `FakeClock` in tests. Default the system clock. */
  readonly clock?: Clock;
  /** Where failed parts are logged with their internal error. */
  readonly logger?: GatewayLogger;
}

/** Why a part has no value; generic on purpose, internal errors stay in the logs. */
export type PartError = "timeout" | "unavailable" | "bad_response" | `status ${number}`;

interface CompiledPart {
  readonly name: string;
  readonly upstream: string;
  readonly method: string;
  readonly path: PathTemplate;
  /** Undefined when the deadline comes first anyway. */
  readonly timeoutMs: number | undefined;
  readonly required: boolean;
  readonly fallback: string;
  readonly forwardHeaders: readonly string[];
}

// The caller owns these; copying them from upstreamHeaders would corrupt the part requests.
const callerOwnedHeaders = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "expect",
  "upgrade",
]);

/**
 * A layer that answers by itself (it never calls `next()`) by calling several upstreams in
 * parallel and merging their JSON answers into one object, one key per part, plus
 * `_meta: { partial, errors }`. A failed part (error, timeout, non-2xx, invalid JSON) takes its
 * `fallback` (or `null`) and is listed in `partial`; only a failed `required` part fails the
 * whole with a 502 problem (504 when it timed out). Each part has its own `AbortSignal`, fired by
 * its timeout, the endpoint's deadline, or a required part's failure. Parts receive the
 * request's `upstreamHeaders` (identity), `x-request-id`, `traceparent`/`tracestate` and their
 * `forwardHeaders`. Throws `FLT_GATEWAY_CONFIG_INVALID` for invalid options.
 *
 * @example
 * compositeEndpoint({
 *   deadline: "800ms",
 *   parts: [
 *     { name: "user", upstream: "users", path: "/users/{userId}", timeout: "300ms", required: true },
 *     { name: "orders", upstream: "orders", path: "/users/{userId}/orders?limit={query.limit}", fallback: [] },
 *   ],
 * }, caller);
 */
export function compositeEndpoint(
  options: CompositeOptions,
  caller: UpstreamCaller,
  deps: CompositeEndpointDeps = {},
): CompositeEndpoint {
  return new CompositeEndpoint(parseLayerOptions(compositeOptionsSchema, options, "composite"), caller, deps);
}

/** See {@link compositeEndpoint}. */
export class CompositeEndpoint implements Layer {
  readonly name = "composite";
  readonly #plan: Plan;

  constructor(config: CompositeConfig, caller: UpstreamCaller, deps: CompositeEndpointDeps = {}) {
    const parts = config.parts.map(
      (part): CompiledPart => ({
        name: part.name,
        upstream: part.upstream,
        method: part.method,
        path: compilePathTemplate(part.path),
        timeoutMs: part.timeout !== undefined && part.timeout < config.deadline ? part.timeout : undefined,
        required: part.required,
        fallback: JSON.stringify(part.fallback ?? null),
        forwardHeaders: part.forwardHeaders,
      }),
    );
    this.#plan = {
      parts,
      deadlineMs: config.deadline,
      usesQuery: parts.some((part) => part.path.usesQuery),
      caller,
      clock: deps.clock ?? systemClock,
      logger: deps.logger ?? silentLogger,
    };
  }

  /** The route path parameters the parts' paths use, to check against the route. */
  get routeParams(): readonly string[] {
    return [...new Set(this.#plan.parts.flatMap((part) => part.path.params))];
  }

  /** Answers by itself; `next` is never called. */
  handle(exchange: Exchange, _next?: Next): Promise<GatewayResponse> {
    return new CompositeRun(this.#plan, exchange).promise;
  }
}

interface Plan {
  readonly parts: readonly CompiledPart[];
  readonly deadlineMs: number;
  readonly usesQuery: boolean;
  readonly caller: UpstreamCaller;
  readonly clock: Clock;
  readonly logger: GatewayLogger;
}

type Outcome =
  | { readonly ok: true; readonly json: string }
  | { readonly ok: false; readonly error: PartError };

/** One request's parts in flight; settles once, whatever finishes first. */
class CompositeRun {
  readonly promise: Promise<GatewayResponse>;
  readonly #plan: Plan;
  readonly #outcomes: (Outcome | undefined)[];
  readonly #controllers: AbortController[] = [];
  readonly #timers: (TimerHandle | undefined)[] = [];
  #deadline: TimerHandle | undefined;
  #pending: number;
  #done = false;
  #resolve!: (response: GatewayResponse) => void;

  constructor(plan: Plan, exchange: Exchange) {
    this.#plan = plan;
    const parts = plan.parts;
    this.#outcomes = new Array(parts.length);
    this.#pending = parts.length;
    this.promise = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    const clock = plan.clock;
    this.#deadline = clock.setTimeout(() => this.#expire(), plan.deadlineMs);
    const shared = sharedHeaders(exchange);
    const query = plan.usesQuery ? new URLSearchParams(exchange.query) : undefined;
    for (let i = 0; i < parts.length && !this.#done; i++) {
      const part = parts[i]!;
      const controller = new AbortController();
      this.#controllers.push(controller);
      this.#timers.push(
        part.timeoutMs === undefined ? undefined : clock.setTimeout(() => this.#timeOut(i), part.timeoutMs),
      );
      let reply: Promise<UpstreamReply>;
      try {
        reply = plan.caller.call({
          upstream: part.upstream,
          method: part.method,
          path: part.path.expand(exchange.params, query),
          headers:
            part.forwardHeaders.length === 0 ? shared : withForwarded(shared, exchange, part.forwardHeaders),
          signal: controller.signal,
        });
      } catch (error) {
        reply = Promise.reject(error);
      }
      reply.then(
        (answer) => this.#settle(i, outcomeOf(answer)),
        (error: unknown) => this.#fail(i, error),
      );
    }
  }

  #timeOut(index: number): void {
    this.#timers[index] = undefined;
    this.#settle(index, { ok: false, error: "timeout" });
  }

  #expire(): void {
    this.#deadline = undefined;
    for (let i = 0; i < this.#plan.parts.length && !this.#done; i++) {
      if (this.#outcomes[i] === undefined) this.#settle(i, { ok: false, error: "timeout" });
    }
  }

  #fail(index: number, error: unknown): void {
    if (this.#done || this.#outcomes[index] !== undefined) return;
    const part = this.#plan.parts[index]!;
    const message = error instanceof Error ? error.message : String(error);
    this.#plan.logger.warn(
      { part: part.name, upstream: part.upstream, err: message },
      "composite part failed",
    );
    const timedOut =
      (error instanceof Error && error.name === "TimeoutError") ||
      isTimeoutError(error) ||
      (isGatewayError(error) && error.code === GatewayErrorCode.GatewayTimeout);
    this.#settle(index, { ok: false, error: timedOut ? "timeout" : "unavailable" });
  }

  #settle(index: number, outcome: Outcome): void {
    if (this.#done || this.#outcomes[index] !== undefined) return;
    this.#outcomes[index] = outcome;
    this.#pending--;
    const timer = this.#timers[index];
    if (timer !== undefined) this.#plan.clock.clearTimeout(timer);
    const part = this.#plan.parts[index]!;
    if (!outcome.ok) {
      this.#controllers[index]?.abort(abortReason(outcome.error));
      if (part.required) {
        this.#finish(requiredFailure(part.name, outcome.error));
        return;
      }
    }
    if (this.#pending === 0) this.#finish(this.#merge());
  }

  #finish(response: GatewayResponse): void {
    this.#done = true;
    const clock = this.#plan.clock;
    if (this.#deadline !== undefined) clock.clearTimeout(this.#deadline);
    for (let i = 0; i < this.#controllers.length; i++) {
      const timer = this.#timers[i];
      if (timer !== undefined) clock.clearTimeout(timer);
      if (this.#outcomes[i] === undefined) this.#controllers[i]!.abort(abortReason("unavailable"));
    }
    this.#resolve(response);
  }

  #merge(): GatewayResponse {
    const parts = this.#plan.parts;
    let body = "{";
    const partial: string[] = [];
    const errors: Record<string, PartError> = {};
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const outcome = this.#outcomes[i]!;
      // Part values are spliced in as the upstream's own JSON text: no re-serialization.
      body += `${JSON.stringify(part.name)}:${outcome.ok ? outcome.json : part.fallback},`;
      if (!outcome.ok) {
        partial.push(part.name);
        errors[part.name] = outcome.error;
      }
    }
    body += `"_meta":${JSON.stringify({ partial, errors })}}`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    // A partial answer is a degraded one: no cache should keep it.
    if (partial.length > 0) headers["cache-control"] = "no-store";
    return bufferedResponse(200, headers, Buffer.from(body));
  }
}

/** The headers every part gets: upstream headers set by earlier layers, then request id and trace context. */
function sharedHeaders(exchange: Exchange): Record<string, string> {
  const headers: Record<string, string> = { accept: "application/json" };
  for (const name in exchange.upstreamHeaders) {
    const value = exchange.upstreamHeaders[name];
    if (typeof value === "string" && !callerOwnedHeaders.has(name)) headers[name] = value;
  }
  headers["x-request-id"] = exchange.requestId;
  const traceparent = exchange.headers.traceparent;
  if (typeof traceparent === "string") {
    headers.traceparent = traceparent;
    const tracestate = exchange.headers.tracestate;
    if (typeof tracestate === "string") headers.tracestate = tracestate;
  }
  return headers;
}

/** `shared` plus the client's `names`, unless an earlier layer set or removed them. */
function withForwarded(
  shared: Readonly<Record<string, string>>,
  exchange: Exchange,
  names: readonly string[],
): Record<string, string> {
  const headers = { ...shared };
  for (const name of names) {
    if (name in exchange.upstreamHeaders) continue;
    const value = exchange.headers[name];
    if (value === undefined) continue;
    headers[name] = typeof value === "string" ? value : value.join(", ");
  }
  return headers;
}

function outcomeOf(reply: UpstreamReply): Outcome {
  if (reply.status < 200 || reply.status > 299) return { ok: false, error: `status ${reply.status}` };
  if (reply.body.length === 0) return { ok: true, json: "null" };
  const text = reply.body.toString("utf8");
  try {
    JSON.parse(text);
  } catch {
    return { ok: false, error: "bad_response" };
  }
  return { ok: true, json: text };
}

function requiredFailure(name: string, error: PartError): GatewayResponse {
  const extra = { part: name };
  return error === "timeout"
    ? problemResponse(
        504,
        GatewayErrorCode.GatewayTimeout,
        "Gateway Timeout",
        `The required part "${name}" timed out.`,
        {},
        extra,
      )
    : problemResponse(
        502,
        GatewayErrorCode.BadGateway,
        "Bad Gateway",
        `The required part "${name}" failed.`,
        {},
        extra,
      );
}

function abortReason(error: PartError): DOMException {
  return error === "timeout"
    ? new DOMException("The composite part timed out.", "TimeoutError")
    : new DOMException("The composite part is no longer needed.", "AbortError");
}
