import type { EventData, EventDefinition } from "../envelope/define-event.js";
import type { Envelope } from "../envelope/envelope.js";
import { isEventDefinition } from "../envelope/is-event-definition.js";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { DeadLetterReason } from "../transport/transport.js";
import type { EnvelopeSink } from "./envelope-sink.js";
import type { MessageContext } from "./message-context.js";

/**
 * A consumer's handler of one event type, made with {@link on} (events) or `onCommand`
 * (commands that are answered).
 */
export interface EventHandler {
  /** The event it handles: the consumer routes on `type`, validates `data` with `schema`. */
  readonly event: EventDefinition;
  /**
   * Handles one message whose `data` passed the schema. Throw to fail it: a `PermanentError`
   * dead-letters it, anything else retries it. Messages it produces go through `sink`.
   */
  run(envelope: Envelope, context: MessageContext, sink: EnvelopeSink): Promise<void>;
  /**
   * Called after the consumer dead-lettered one of its messages whose envelope could be read
   * (so a requester can be told at once). Best effort: what it throws is only logged.
   */
  deadLettered?(envelope: Envelope, reason: DeadLetterReason, sink: EnvelopeSink): Promise<void>;
}

/**
 * Declares the handler of `event` for a consumer. The handler gets the envelope with `data`
 * already validated (and transformed) by the event's schema, and a {@link MessageContext} whose
 * `tx` is the inbox transaction when the consumer has a database.
 *
 * @example
 * ```ts
 * const handlers = [
 *   on(orderPlaced, async (event, { tx }) => {
 *     await tx!.query("INSERT INTO invoices (order_id, total) VALUES ($1, $2)", [
 *       event.data.orderId,
 *       event.data.total,
 *     ]);
 *   }),
 * ];
 * ```
 */
export function on<E extends EventDefinition>(
  event: E,
  handler: (event: Envelope<EventData<E>>, context: MessageContext) => Promise<void>,
): EventHandler {
  if (!isEventDefinition(event)) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      "on: event must be a defineEvent() definition",
    );
  }
  if (typeof handler !== "function") {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `on: the handler of "${event.type}" must be a function, got ${typeof handler}`,
    );
  }
  return {
    event,
    run: (envelope, context) => handler(envelope as Envelope<EventData<E>>, context),
  };
}
