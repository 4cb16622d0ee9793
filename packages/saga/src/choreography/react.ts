import {
  type Envelope,
  type EventData,
  type EventDefinition,
  type EventHandler,
  isEventDefinition,
  isMessagingError,
  type MessageContext,
  MessagingErrorCode,
  on,
  PermanentError,
  type PublishOptions,
  type Queryable,
} from "@flotilla/messaging";
import type { Duration } from "@flotilla/resilience";
import { SagaError, SagaErrorCode } from "../saga-error.js";

const refused: ReadonlySet<string> = new Set([
  MessagingErrorCode.PayloadInvalid,
  MessagingErrorCode.MessageTooLarge,
  MessagingErrorCode.ConfigInvalid,
]);

/** The part of an `Outbox` of `@flotilla/messaging` that {@link react} needs; an `Outbox` fits as it is. */
export interface ReactionOutbox {
  publish<E extends EventDefinition>(
    tx: Queryable,
    event: E,
    data: EventData<E>,
    options?: PublishOptions,
  ): Promise<unknown>;
}

/** One event a reaction publishes; build it with {@link emit} to have `data` type-checked. */
export interface ReactionMessage<E extends EventDefinition = EventDefinition> {
  readonly event: E;
  readonly data: EventData<E>;
  /** Partition key (e.g. the order id): events with one key stay in order. */
  readonly key?: string;
  readonly subject?: string;
  /** Deliver no earlier than this long after the transaction started. */
  readonly delay?: Duration;
  /** Transport headers beside the envelope. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What a reaction returns: the events to publish next (none: the flow ends here for this service). */
export interface Reaction {
  readonly publish?: readonly ReactionMessage[];
}

/** What a reaction's handler gets beside the event: the consumer's context and the flow's correlation id. */
export interface ReactionContext extends MessageContext {
  /** The inbox transaction: write the service's effects with it. */
  readonly tx: NonNullable<MessageContext["tx"]>;
  /** The correlation id of the flow (the event's `correlationid`, else its id), carried by what is published. */
  readonly correlationId: string;
}

/** Options of {@link react}. */
export interface ReactOptions {
  /** The service's outbox; the published events are written in the inbox transaction. */
  readonly outbox: ReactionOutbox;
}

/**
 * Builds a {@link ReactionMessage} with `data` checked against the event's type.
 *
 * @example
 * ```ts
 * return { publish: [emit(paymentCharged, { orderId, amount }, { key: orderId })] };
 * ```
 */
export function emit<E extends EventDefinition>(
  event: E,
  data: EventData<E>,
  options: Omit<ReactionMessage<E>, "event" | "data"> = {},
): ReactionMessage<E> {
  return { ...options, event, data };
}

/**
 * One link of a choreographed saga: a consumer handler that reacts to `event` and publishes the
 * next events through the service's outbox in the SAME transaction as its effects and the inbox
 * record, so a step's effects and its outgoing events happen together, exactly once per event
 * however often it is delivered. Every published event carries the flow's correlation id (the
 * triggering event's `correlationid`, or its id when it has none — the first event of a flow)
 * and, as `causationid`, the triggering event's id.
 *
 * Needs a consumer with `db` (the inbox transaction). Publishing fails the message (retried
 * like any handler error) when the outbox refuses an event (data failing its schema, too large).
 * A handler that throws `PermanentError` dead-letters the event: in a choreography, publish a
 * failure event instead so that the other services compensate.
 *
 * @example
 * ```ts
 * const outbox = messaging.outbox({ source: "/services/payments" });
 * const handlers = [
 *   react(orderPlaced, async (event, { tx }) => {
 *     await tx.query("INSERT INTO charges (order_id, amount) VALUES ($1, $2)", [event.data.orderId, event.data.total]);
 *     return { publish: [emit(paymentCharged, { orderId: event.data.orderId, amount: event.data.total }, { key: event.data.orderId })] };
 *   }, { outbox }),
 * ];
 * ```
 */
export function react<E extends EventDefinition>(
  event: E,
  handler: (event: Envelope<EventData<E>>, context: ReactionContext) => Promise<Reaction | undefined>,
  options: ReactOptions,
): EventHandler {
  if (!isEventDefinition(event)) {
    throw new SagaError(SagaErrorCode.OptionsInvalid, "react: event must be a defineEvent() definition");
  }
  if (typeof handler !== "function") {
    throw new SagaError(
      SagaErrorCode.OptionsInvalid,
      `react: the handler of "${event.type}" must be a function, got ${typeof handler}`,
    );
  }
  if (typeof options?.outbox?.publish !== "function") {
    throw new SagaError(
      SagaErrorCode.OptionsInvalid,
      `react: options.outbox of "${event.type}" must be an Outbox (with publish(tx, event, data, options))`,
      { issues: [{ path: "outbox", message: "expected an Outbox" }] },
    );
  }
  const { outbox } = options;
  return on(event, async (envelope, context) => {
    const { tx } = context;
    if (tx === undefined) {
      throw new PermanentError(
        `react "${event.type}" needs a consumer with a db: its events are published in the inbox transaction`,
      );
    }
    const correlationId = envelope.correlationid ?? envelope.id;
    const reaction = await handler(envelope, Object.assign(Object.create(context), { tx, correlationId }));
    const messages = reaction?.publish ?? [];
    if (!Array.isArray(messages)) {
      throw new PermanentError(`the reaction to "${event.type}" returned publish that is not an array`);
    }
    for (const [index, message] of messages.entries()) {
      if (typeof message?.event?.type !== "string") {
        throw new PermanentError(
          `the reaction to "${event.type}" returned publish[${index}] without an event definition`,
        );
      }
      try {
        await outbox.publish(tx, message.event, message.data, {
          correlationId,
          causationId: envelope.id,
          ...(message.key === undefined ? {} : { key: message.key }),
          ...(message.subject === undefined ? {} : { subject: message.subject }),
          ...(message.delay === undefined ? {} : { delay: message.delay }),
          ...(message.headers === undefined ? {} : { headers: message.headers }),
        });
      } catch (error) {
        // The same data fails the same way on every retry: dead-letter the event with the reason at once.
        if (!isMessagingError(error) || !refused.has(error.code)) throw error;
        throw new PermanentError(
          `the reaction to "${event.type}" could not publish publish[${index}] ("${message.event.type}"): ${error.message}`,
          { cause: error },
        );
      }
    }
    if (messages.length > 0) {
      context.logger.debug(
        { correlationId, published: messages.map((message) => message.event.type) },
        "reaction published its events",
      );
    }
  });
}
