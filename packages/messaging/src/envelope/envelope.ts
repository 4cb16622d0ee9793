import { randomUUID } from "node:crypto";

/**
 * A message as Flotilla sends it: a CloudEvents 1.0 event in structured JSON mode
 * (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md), with the partitioning
 * extension (`partitionkey`), the distributed-tracing extension (`traceparent`, `tracestate`) and
 * Flotilla's own extensions for correlation, causation, schema version and replies.
 */
export interface Envelope<T = unknown> {
  readonly specversion: "1.0";
  /** Unique per message; consumers de-duplicate on it. */
  readonly id: string;
  /** URI-reference of the producer, e.g. `/services/orders`. */
  readonly source: string;
  /** The event type, e.g. `orders.order-placed`. */
  readonly type: string;
  /** RFC 3339 time of the occurrence. */
  readonly time: string;
  /** What the event is about within the source, e.g. the order id. */
  readonly subject?: string;
  readonly datacontenttype: "application/json";
  readonly data: T;
  /** The aggregate id; messages with the same key are delivered in order. */
  readonly partitionkey?: string;
  /** Shared by every message of one business flow (a saga id, a request id). */
  readonly correlationid?: string;
  /** The id of the message that caused this one. */
  readonly causationid?: string;
  /** W3C trace context of the producer, so the consumer's span continues its trace. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** The version of `data`'s schema (an integer from 1). */
  readonly schemaversion: number;
  /** For commands: the topic the reply is published to. */
  readonly replyto?: string;
}

/** What {@link createEnvelope} needs; everything else it fills in. */
export interface EnvelopeInit<T = unknown> {
  readonly type: string;
  readonly source: string;
  readonly data: T;
  readonly id?: string;
  readonly time?: Date | string;
  readonly subject?: string;
  readonly partitionkey?: string;
  readonly correlationid?: string;
  readonly causationid?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly schemaversion?: number;
  readonly replyto?: string;
}

/** Builds an {@link Envelope}: a random UUID `id`, `time` now, `schemaversion` 1 unless given. */
export function createEnvelope<T>(init: EnvelopeInit<T>): Envelope<T> {
  const time = init.time === undefined ? new Date() : init.time;
  const envelope: Record<string, unknown> = {
    specversion: "1.0",
    id: init.id ?? randomUUID(),
    source: init.source,
    type: init.type,
    time: typeof time === "string" ? time : time.toISOString(),
    datacontenttype: "application/json",
    schemaversion: init.schemaversion ?? 1,
  };
  for (const name of optionalAttributes) {
    const value = init[name];
    if (value !== undefined) envelope[name] = value;
  }
  envelope.data = init.data;
  return envelope as unknown as Envelope<T>;
}

/** The optional string attributes of an {@link Envelope}, in the order they are written. */
export const optionalAttributes = [
  "subject",
  "partitionkey",
  "correlationid",
  "causationid",
  "traceparent",
  "tracestate",
  "replyto",
] as const;
