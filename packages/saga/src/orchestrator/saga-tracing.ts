import { extractContext, injectContext } from "@flotilla/observability";
import {
  type Context,
  context as otelContext,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

const tracer = trace.getTracer("@flotilla/saga");

/**
 * Starts the root span `saga <type>` under the caller's active context and returns it with its
 * W3C `traceparent`, which is stored on the saga row so that every later step span (in any process)
 * continues the same trace.
 */
export function startSagaSpan(type: string, sagaId: string): { span: Span; traceparent: string | undefined } {
  const span = tracer.startSpan(`saga ${type}`, {
    attributes: { "flotilla.saga.type": type, "flotilla.saga.id": sagaId },
  });
  const carrier = injectContext<Record<string, string>>({}, trace.setSpan(otelContext.active(), span));
  return { span, traceparent: carrier.traceparent };
}

/**
 * Starts the span of a saga run in a process that did not start it (claimed after a crash or a
 * deploy, or resumed by an operator): `saga <type> resume`, a child of the stored context, so the
 * run continues the saga's trace.
 */
export function resumeSagaSpan(type: string, sagaId: string, traceparent: string | null): Span {
  return tracer.startSpan(
    `saga ${type} resume`,
    { attributes: { "flotilla.saga.type": type, "flotilla.saga.id": sagaId } },
    sagaContext(traceparent),
  );
}

/** Ends a saga run's span with the state the run left the saga in (an error status unless it completed or stopped mid-way). */
export function endSagaSpan(span: Span, state: string, error: string | null): void {
  span.setAttribute("flotilla.saga.state", state);
  if (state === "COMPENSATED" || state === "FAILED_COMPENSATION") {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error ?? state });
  }
  span.end();
}

/** The context to run a saga's step spans in: under the run's span. */
export function runContext(span: Span): Context {
  return trace.setSpan(ROOT_CONTEXT, span);
}

/** The saga's stored trace context (root when it has none). */
export function sagaContext(traceparent: string | null): Context {
  return traceparent === null ? ROOT_CONTEXT : extractContext({ traceparent }, ROOT_CONTEXT);
}

/** Runs `fn` in a child span `saga <type> <step> <kind>` of `parent`; the span records failure. */
export async function inStepSpan<T>(
  parent: Context,
  name: string,
  attributes: Record<string, string | number>,
  fn: () => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes }, parent);
  try {
    const value = await otelContext.with(trace.setSpan(parent, span), fn);
    return value;
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
    throw error;
  } finally {
    span.end();
  }
}
