import { extractContext } from "@flotilla/observability";
import { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Envelope } from "../envelope/envelope.js";
import type { TransportMessage } from "../transport/transport.js";

const tracer = trace.getTracer("@flotilla/messaging");

/** Where a consumer span is started: the transport, the consumer group and the message. */
export interface ConsumerSpanTarget {
  readonly system: string;
  readonly consumer: string;
  readonly message: TransportMessage;
}

/**
 * A span of one message's processing and the context to run its handler in. It follows the
 * OpenTelemetry messaging semantic conventions (a CONSUMER span `process <type>`) and is a child
 * of the producer's span named by the envelope's `traceparent`/`tracestate`; without them it
 * starts a trace of its own rather than joining whatever happens to be active.
 */
export class ConsumerSpan {
  readonly span: Span;
  /** The context with {@link ConsumerSpan.span} active. */
  readonly context: Context;

  constructor(target: ConsumerSpanTarget, envelope: Envelope) {
    const parent =
      envelope.traceparent === undefined
        ? ROOT_CONTEXT
        : extractContext(
            envelope.tracestate === undefined
              ? { traceparent: envelope.traceparent }
              : { traceparent: envelope.traceparent, tracestate: envelope.tracestate },
            ROOT_CONTEXT,
          );
    const attributes: Record<string, string | number> = {
      "messaging.system": target.system,
      "messaging.operation.type": "process",
      "messaging.operation.name": "process",
      "messaging.destination.name": target.message.topic,
      "messaging.consumer.group.name": target.consumer,
      "messaging.message.id": envelope.id,
      "messaging.message.body.size": target.message.body.byteLength,
      "cloudevents.event_id": envelope.id,
      "cloudevents.event_type": envelope.type,
      "cloudevents.event_source": envelope.source,
    };
    if (envelope.correlationid !== undefined) {
      attributes["messaging.message.conversation_id"] = envelope.correlationid;
    }
    this.span = tracer.startSpan(`process ${envelope.type}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    this.context = trace.setSpan(parent, this.span);
  }

  /** Records a failure of one attempt (an exception event) without ending the span. */
  recordError(error: unknown): void {
    this.span.recordException(error instanceof Error ? error : String(error));
  }

  /** Ends the span with how the delivery was settled; `error` marks it failed. */
  end(outcome: string, error?: string): void {
    this.span.setAttribute("flotilla.messaging.outcome", outcome);
    if (error !== undefined) this.span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.span.end();
  }
}
