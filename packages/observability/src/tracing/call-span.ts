import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import { knownHttpMethods, otherHttpMethod } from "../metrics/http-method.js";
import { type ContextCarrier, isHeadersLike } from "./context-carrier.js";
import { type HeadSampling, registeredHeadSampling } from "./head-sampling.js";
import { emptyContext, linkedRoot } from "./linked-context.js";
import { methodAttributes, startSampledSpan } from "./trace-http-server.js";
import { extractTraceparent } from "./traceparent.js";

/** What a call span is named and tagged with. */
export interface CallSpanInit {
  /** The HTTP method the call carries. */
  readonly method: string;
  /** The route template (`/orders/:id`), never the raw path: it names the span. */
  readonly route: string;
  /** `network.protocol.name`, e.g. `flotilla-wire`. */
  readonly protocol: string;
  /** The path as sent (`url.path`), without the query string. */
  readonly path?: string;
  /** The other side's address and port. */
  readonly peerAddress?: string;
  readonly peerPort?: number;
}

/**
 * The span of one call made or served outside `node:http` (over the Flotilla wire protocol),
 * named and tagged as the HTTP semantic conventions name an HTTP call with the same method and
 * route, with the same head-sampling fast path as `traceHttpServer`: a call the sampler drops gets
 * a non-recording span that only carries the ids.
 */
export class CallSpan {
  readonly span: Span;
  /** The span over its parent: run the call's work in it, inject it into the outbound headers. */
  readonly context: Context;
  readonly #kind: SpanKind;

  constructor(span: Span, ctx: Context, kind: SpanKind) {
    this.span = span;
    this.context = ctx;
    this.#kind = kind;
  }

  /** Runs `fn` with this span active, so that logs and outbound calls see it. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  /**
   * Ends the span with the answer's status, or with `error` when there was none. A server span
   * is an error from 500 on, a client span from 400 on
   * (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#status).
   */
  end(status: number | undefined, error?: unknown): void {
    const span = this.span;
    if (!span.isRecording()) return;
    if (status !== undefined) {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= (this.#kind === SpanKind.SERVER ? 500 : 400)) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttribute(ATTR_ERROR_TYPE, String(status));
      }
    } else if (error !== undefined) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      span.setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.constructor.name : "_OTHER");
    }
    span.end();
  }
}

function start(
  kind: SpanKind,
  init: CallSpanInit,
  parent: Context,
  sampling: HeadSampling | undefined,
): CallSpan {
  const method = knownHttpMethods.has(init.method) ? init.method : otherHttpMethod;
  const name = `${method === otherHttpMethod ? "HTTP" : method} ${init.route}`;
  const base = linkedRoot(parent);
  const span = startSampledSpan(sampling, name, methodAttributes(method), base, kind);
  if (span.isRecording()) {
    span.setAttribute(ATTR_HTTP_ROUTE, init.route);
    span.setAttribute(ATTR_NETWORK_PROTOCOL_NAME, init.protocol);
    if (init.path !== undefined) span.setAttribute(ATTR_URL_PATH, init.path);
    const address = kind === SpanKind.SERVER ? ATTR_NETWORK_PEER_ADDRESS : ATTR_SERVER_ADDRESS;
    const port = kind === SpanKind.SERVER ? ATTR_NETWORK_PEER_PORT : ATTR_SERVER_PORT;
    if (init.peerAddress !== undefined) span.setAttribute(address, init.peerAddress);
    if (init.peerPort !== undefined) span.setAttribute(port, init.peerPort);
  }
  return new CallSpan(span, trace.setSpan(base, span), kind);
}

/** The server span of a call that arrived with `headers`, continuing the caller's trace (W3C or B3). */
export function inboundCallSpan(headers: ContextCarrier, init: CallSpanInit): CallSpan {
  const sampling = registeredHeadSampling();
  const parent =
    (isHeadersLike(headers) ? undefined : extractTraceparent(sampling, headers)) ??
    propagation.extract(emptyContext, headers);
  return start(SpanKind.SERVER, init, parent, sampling);
}

/** The client span of a call about to be sent, a child of `parent` (default: the active context). */
export function outboundCallSpan(init: CallSpanInit, parent: Context = context.active()): CallSpan {
  return start(SpanKind.CLIENT, init, parent, registeredHeadSampling());
}
