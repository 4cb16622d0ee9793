import type { Envelope } from "../envelope/envelope.js";
import { decodeEnvelope } from "../envelope/envelope-codec.js";
import { isMessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { DeadLetterCode, type DeadLetterReason, type Delivery } from "../transport/transport.js";
import type { EventHandler } from "./event-handler.js";

/** What {@link checkDelivery} needs to know. */
export interface DeliveryRules {
  readonly consumer: string;
  readonly handlers: ReadonlyMap<string, EventHandler>;
  readonly maxAttempts: number;
  readonly maxMessageBytes: number;
}

/** A delivery that may run its handler: the envelope with `data` as the schema parsed it. */
export interface AcceptedDelivery {
  readonly accepted: true;
  readonly envelope: Envelope;
  readonly handler: EventHandler;
}

/** A delivery to dead-letter; `envelope` (and `handler`) when they could be read. */
export interface RejectedDelivery {
  readonly accepted: false;
  readonly reason: DeadLetterReason;
  readonly envelope?: Envelope;
  readonly handler?: EventHandler;
}

/**
 * Decides whether a delivery may run its handler, in the order that makes the reason most useful:
 * an unreadable or oversize envelope (`malformed`, `too-large`), a type without a handler
 * (`unknown-type`), more deliveries than `maxAttempts` without an outcome — earlier ones never
 * settled, most likely because the handler crashed the process (`poison`) — and `data` failing
 * the event's schema (`invalid`, listing each failing path).
 */
export function checkDelivery(delivery: Delivery, rules: DeliveryRules): AcceptedDelivery | RejectedDelivery {
  let envelope: Envelope;
  try {
    envelope = decodeEnvelope(delivery.message.body, rules.maxMessageBytes);
  } catch (error) {
    const code = isMessagingError(error, MessagingErrorCode.MessageTooLarge)
      ? DeadLetterCode.TooLarge
      : DeadLetterCode.Malformed;
    return { accepted: false, reason: { code, message: (error as Error).message } };
  }
  const handler = rules.handlers.get(envelope.type);
  if (handler === undefined) {
    return {
      accepted: false,
      envelope,
      reason: {
        code: DeadLetterCode.UnknownType,
        message: `consumer "${rules.consumer}" has no handler for event type "${envelope.type}"`,
      },
    };
  }
  if (delivery.attempt > rules.maxAttempts) {
    return {
      accepted: false,
      envelope,
      handler,
      reason: {
        code: DeadLetterCode.Poison,
        message: `delivery ${delivery.attempt} of a message allowed ${rules.maxAttempts} attempts: earlier deliveries never reached an outcome (did the handler crash the process?)`,
      },
    };
  }
  const parsed = handler.event.schema.safeParse(envelope.data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.length === 0 ? "(data)" : issue.path.map(String).join(".")}: ${issue.message}`,
    );
    return {
      accepted: false,
      envelope,
      handler,
      reason: {
        code: DeadLetterCode.Invalid,
        message: `data of "${envelope.type}" fails its schema: ${issues.join("; ")}`,
      },
    };
  }
  return { accepted: true, envelope: { ...envelope, data: parsed.data }, handler };
}
