import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  type Link,
  propagation,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { getRPCMetadata, type RPCMetadata, RPCType, setRPCMetadata } from "@opentelemetry/core";
import { SamplingDecision, type SamplingResult } from "@opentelemetry/sdk-trace";
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from "@opentelemetry/semantic-conventions";
import { knownHttpMethods, otherHttpMethod } from "../metrics/http-method.js";
import { bindRequestContext } from "./bind-request-context.js";
import { type HeadSampling, registeredHeadSampling } from "./head-sampling.js";
import { emptyContext } from "./linked-context.js";
import { extractTraceparent } from "./traceparent.js";

/** A `node:http` request listener, possibly async. */
export type HttpHandler<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
> = (req: Req, res: Res) => unknown;

/** Options of {@link traceHttpServer}. */
export interface TraceHttpServerOptions {
  /** Requests for which this returns `true` get no span (health checks, metrics scrapes). */
  readonly ignore?: (req: IncomingMessage) => boolean;
  /**
   * The route template of a request when the router knows it before the handler runs. The
   * handler can also name it later with `setHttpRoute`.
   */
  readonly route?: (req: IncomingMessage) => string | undefined;
  /**
   * Keep the request's context for listeners the handler adds to `req` (`req.on("data")`), as
   * the official instrumentation does, for sampled and unsampled requests alike. Default `true`;
   * the first wrapped server that binds replaces `IncomingMessage.prototype`'s listener-adding
   * methods once (see `bindRequestContext`). A handler that reads bodies only through promises or
   * `for await` keeps its context without it and can turn it off.
   */
  readonly bindRequest?: boolean;
}

const scope = "@flotilla/observability/http-server";

/** What the response's `close` listener needs to end the server span. */
interface ServerSpan {
  readonly span: Span;
  readonly metadata: RPCMetadata;
  readonly name: string;
  threw: boolean;
}

const kServerSpan = Symbol("flotilla.tracing.serverSpan");
type Traced = ServerResponse & { [kServerSpan]?: ServerSpan | undefined };

/** One `close` listener shared by every response, rather than a closure per request. */
function onResponseClose(this: Traced): void {
  const state = this[kServerSpan];
  if (state === undefined) return;
  this[kServerSpan] = undefined;
  endSpan(state.span, state.metadata, state.name, this, state.threw);
}

let tracerProvider: TracerProvider | undefined;
let tracer: Tracer | undefined;

/** The tracer of the registered provider, looked up again after telemetry restarts. */
function currentTracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (provider !== tracerProvider || tracer === undefined) {
    tracerProvider = provider;
    tracer = provider.getTracer(scope);
  }
  return tracer;
}

/**
 * Wraps a `node:http` request listener so that each request gets a server span, as the official
 * `node:http` instrumentation would give it, at a fraction of the cost: the sampling decision
 * comes first (only `http.request.method` is known to the sampler); a request the sampler drops
 * gets a non-recording span that only carries its ids on to outbound calls and log lines, and
 * extraction is skipped when the request has none of the propagator's headers; only a sampled
 * request pays for an SDK span and its attributes. No module is patched (only the listener
 * methods of `IncomingMessage.prototype`, for `bindRequest`) and no metrics are recorded. Use it with `instrumentations: { http: { incoming: false } }`; where the
 * instrumentation already traces the request, the wrapper steps aside.
 *
 * The span follows the stable HTTP semantic conventions: named `GET` or, once the route is
 * known (`options.route`, or `setHttpRoute` from the handler), `GET /users/:id`, never the raw
 * path; `http.request.method`, `url.scheme`, `url.path`, `server.address`, `server.port`,
 * `client.address`, `network.peer.*`, `network.protocol.version`, `user_agent.original`,
 * `http.route` and `http.response.status_code` (5xx sets the error status and `error.type`).
 * The remote parent is read with the registered propagator (W3C, or B3). The span ends when the
 * response closes.
 *
 * ```ts
 * createServer(traceHttpServer(app, { ignore: (req) => req.url === "/health" }));
 * ```
 */
export function traceHttpServer<Req extends IncomingMessage, Res extends ServerResponse>(
  handler: HttpHandler<Req, Res>,
  options: TraceHttpServerOptions = {},
): HttpHandler<Req, Res> {
  const { ignore, route } = options;
  const bindRequest = options.bindRequest ?? true;
  return function tracedRequest(this: unknown, req: Req, res: Res): unknown {
    const active = context.active();
    if (getRPCMetadata(active)?.type === RPCType.HTTP || ignore?.(req) === true) {
      return handler.call(this, req, res);
    }
    // Reading the peer address caches it on the socket (`_peername`). A sampled request reads it
    // for its attributes; reading it for every request gives every connection's socket the same
    // hidden class, so that node:net's code stays monomorphic when only some requests are sampled.
    void req.socket.remotePort;
    const rawMethod = req.method ?? "GET";
    const method = knownHttpMethods.has(rawMethod) ? rawMethod : otherHttpMethod;
    // https://opentelemetry.io/docs/specs/semconv/http/http-spans/#name: "HTTP" for unknown methods.
    const name = method === "_OTHER" ? "HTTP" : method;
    const sampling = registeredHeadSampling();
    // Without any header the propagator reads, extraction would return the root context as it is.
    const parent =
      sampling?.propagationHeaders?.presentIn(req.rawHeaders) === false
        ? emptyContext
        : (extractTraceparent(sampling, req.headers) ?? propagation.extract(emptyContext, req.headers));
    const span = startSampledSpan(sampling, name, methodAttributes(method), parent);
    if (!span.isRecording()) {
      // Unsampled: the span only carries the ids (and the decision) on to outbound calls. The
      // request and response still get what a sampled one gets (the same properties, in the same
      // order, and the same listener), so that all of them share their hidden classes.
      const ctx = trace.setSpan(parent, span);
      (res as Traced)[kServerSpan] = undefined;
      res.on("close", onResponseClose);
      if (bindRequest) bindRequestContext(req, ctx);
      return context.with(ctx, callHandler, undefined, handler, this, req, res);
    }
    const metadata: RPCMetadata = { type: RPCType.HTTP, span };
    const knownRoute = route?.(req);
    if (knownRoute !== undefined) metadata.route = knownRoute;
    const ctx = setRPCMetadata(trace.setSpan(parent, span), metadata);
    setRequestAttributes(span, req, method, rawMethod);
    const state: ServerSpan = { span, metadata, name, threw: false };
    (res as Traced)[kServerSpan] = state;
    res.on("close", onResponseClose);
    if (bindRequest) bindRequestContext(req, ctx);
    try {
      return context.with(ctx, callHandler, undefined, handler, this, req, res);
    } catch (error) {
      state.threw = true;
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      span.setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.constructor.name : "_OTHER");
      throw error;
    }
  };
}

/**
 * Calls the handler with its `this`. Handed to `context.with` without a `this` of its own: given
 * one, the context manager binds the function anew for every call.
 */
function callHandler<Req extends IncomingMessage, Res extends ServerResponse>(
  handler: HttpHandler<Req, Res>,
  self: unknown,
  req: Req,
  res: Res,
): unknown {
  return handler.call(self, req, res);
}

const noLinks: Link[] = [];
const sampledDecision: SamplingResult = Object.freeze({ decision: SamplingDecision.RECORD_AND_SAMPLED });
const droppedDecision: SamplingResult = Object.freeze({ decision: SamplingDecision.NOT_RECORD });

// The sampler sees only the method, so the attributes it is asked with are one shared object per
// method; the SDK copies them into the span.
const attributesByMethod = new Map<string, Attributes>(
  [...knownHttpMethods, otherHttpMethod].map((m) => [m, Object.freeze({ [ATTR_HTTP_REQUEST_METHOD]: m })]),
);

export function methodAttributes(method: string): Attributes {
  return attributesByMethod.get(method) ?? { [ATTR_HTTP_REQUEST_METHOD]: method };
}

function spanOptions(attributes: Attributes, kind: SpanKind): SpanOptions {
  return { kind, attributes };
}

/**
 * The server (or `kind`) span of a request: the SDK's, or, when the running telemetry's sampler drops the
 * request, a non-recording span made straight from the ids, which is what the SDK would return
 * after generating them, building the attributes, asking the sampler and recording metrics of its
 * own. The sampler is asked with the same arguments the SDK would pass; for a sampled root span
 * the SDK is handed the trace id that was sampled, so it makes the same decision.
 */
export function startSampledSpan(
  sampling: HeadSampling | undefined,
  name: string,
  attributes: Attributes,
  parent: Context,
  kind: SpanKind = SpanKind.SERVER,
): Span {
  // Another provider's sampler gets an attributes object of its own, as the SDK would give it.
  if (sampling === undefined)
    return currentTracer().startSpan(name, spanOptions({ ...attributes }, kind), parent);
  const parentSpanContext = trace.getSpanContext(parent);
  const root = parentSpanContext === undefined || !isSpanContextValid(parentSpanContext);
  const traceId = root ? sampling.ids.randomTraceId() : parentSpanContext.traceId;
  const bound = sampling.rootUpperBound;
  // With the sampler initTelemetry builds (`rootUpperBound` set), a child follows its parent's
  // sampled flag (ParentBasedSampler's defaults: AlwaysOn/AlwaysOff for remote and local parents),
  // so neither case needs the sampler, which would validate the parent's ids once more.
  const decision =
    bound === undefined
      ? sampling.sampler.shouldSample(parent, traceId, name, kind, attributes, noLinks)
      : root
        ? sampling.ids.lastTraceIdFold < bound
          ? sampledDecision
          : droppedDecision
        : (parentSpanContext.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED
          ? sampledDecision
          : droppedDecision;
  if (decision.decision === SamplingDecision.NOT_RECORD) {
    const spanContext: SpanContext = {
      traceId,
      spanId: sampling.ids.generateSpanId(),
      traceFlags: TraceFlags.NONE,
    };
    const traceState = decision.traceState ?? (root ? undefined : parentSpanContext.traceState);
    if (traceState !== undefined) spanContext.traceState = traceState;
    return trace.wrapSpanContext(spanContext);
  }
  if (!root) return currentTracer().startSpan(name, spanOptions(attributes, kind), parent);
  sampling.ids.presetTraceId(traceId);
  try {
    return currentTracer().startSpan(name, spanOptions(attributes, kind), parent);
  } finally {
    sampling.ids.presetTraceId(undefined);
  }
}

/** Sets the request's attributes one by one: an attributes object would be built only to be copied. */
function setRequestAttributes(span: Span, req: IncomingMessage, method: string, rawMethod: string): void {
  const { headers, socket } = req;
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  const peerAddress = socket.remoteAddress;
  span.setAttribute(
    ATTR_URL_SCHEME,
    (socket as { encrypted?: boolean }).encrypted === true ? "https" : "http",
  );
  span.setAttribute(ATTR_URL_PATH, query < 0 ? url : url.slice(0, query));
  span.setAttribute(ATTR_NETWORK_PROTOCOL_VERSION, req.httpVersion);
  span.setAttribute(ATTR_NETWORK_PEER_ADDRESS, peerAddress);
  span.setAttribute(ATTR_NETWORK_PEER_PORT, socket.remotePort);
  span.setAttribute(ATTR_CLIENT_ADDRESS, clientAddress(headers["x-forwarded-for"]) ?? peerAddress);
  if (method !== rawMethod) span.setAttribute(ATTR_HTTP_REQUEST_METHOD_ORIGINAL, rawMethod);
  const userAgent = headers["user-agent"];
  if (userAgent !== undefined) span.setAttribute(ATTR_USER_AGENT_ORIGINAL, userAgent);
  const host = headers.host;
  if (host !== undefined) {
    // Host = uri-host [ ":" port ], the uri-host possibly an IPv6 literal in brackets (RFC 9110 §7.2).
    const colon = host.lastIndexOf(":");
    if (colon > host.lastIndexOf("]")) {
      span.setAttribute(ATTR_SERVER_ADDRESS, host.slice(0, colon));
      const port = Number(host.slice(colon + 1));
      if (Number.isInteger(port)) span.setAttribute(ATTR_SERVER_PORT, port);
    } else {
      span.setAttribute(ATTR_SERVER_ADDRESS, host);
    }
  }
}

function clientAddress(forwardedFor: string | string[] | undefined): string | undefined {
  const first = Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor;
  if (first === undefined) return undefined;
  const comma = first.indexOf(",");
  const address = (comma < 0 ? first : first.slice(0, comma)).trim();
  return address === "" ? undefined : address;
}

function endSpan(span: Span, metadata: RPCMetadata, name: string, res: ServerResponse, threw: boolean): void {
  const status = res.statusCode;
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (metadata.type === RPCType.HTTP && metadata.route !== undefined) {
    span.setAttribute(ATTR_HTTP_ROUTE, metadata.route);
    span.updateName(`${name} ${metadata.route}`);
  }
  // https://opentelemetry.io/docs/specs/semconv/http/http-spans/#status: 5xx is a server error, 4xx
  // is not. A handler that threw has already set the status and the exception's error.type.
  if (threw) {
    span.end();
    return;
  }
  if (status >= 500) {
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.setAttribute(ATTR_ERROR_TYPE, String(status));
  } else if (!res.writableFinished) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: "response closed before it was finished" });
    span.setAttribute(ATTR_ERROR_TYPE, "aborted");
  }
  span.end();
}
