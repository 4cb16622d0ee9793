import type { z } from "zod";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { assertTopic } from "../transport/topic.js";

/** A typed event: its CloudEvents `type`, the topic it is published on, and the zod schema of its `data`. */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  /** The CloudEvents `type`, e.g. `orders.order-placed`. */
  readonly type: string;
  /** Dot-separated words the transports route on; default: the type. */
  readonly topic: string;
  /** The schema of `data`; a consumer dead-letters a message that fails it. */
  readonly schema: S;
  /** The schema version written to `schemaversion`; default 1. */
  readonly version: number;
}

/** The `data` type of an {@link EventDefinition}. */
export type EventData<E extends EventDefinition> = z.output<E["schema"]>;

/**
 * Declares an event type. Share the definition between producer and consumers (a types-and-schemas
 * module of the producing service).
 *
 * @example
 * ```ts
 * export const orderPlaced = defineEvent({
 *   type: "orders.order-placed",
 *   schema: z.object({ orderId: z.string(), total: z.number() }),
 * });
 * ```
 */
export function defineEvent<S extends z.ZodType>(definition: {
  readonly type: string;
  readonly schema: S;
  readonly topic?: string;
  readonly version?: number;
}): EventDefinition<S> {
  if (typeof definition.type !== "string" || definition.type === "") {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      "defineEvent: type must be a non-empty string",
    );
  }
  const topic = definition.topic ?? definition.type;
  assertTopic(topic, `event "${definition.type}" topic`);
  const version = definition.version ?? 1;
  if (!Number.isInteger(version) || version < 1) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `defineEvent: version of "${definition.type}" must be an integer from 1, got ${version}`,
    );
  }
  return { type: definition.type, topic, schema: definition.schema, version };
}
