import { FlotillaError } from "@flotilla/resilience";

/** Stable codes of the errors `@flotilla/messaging` throws. */
export const MessagingErrorCode = {
  /** Bytes that are not a CloudEvents 1.0 JSON envelope (bad JSON, missing or mistyped attributes). */
  EnvelopeInvalid: "FLT_MESSAGING_ENVELOPE_INVALID",
  /** An event's `data` fails its schema; `issues` lists each failing path. */
  PayloadInvalid: "FLT_MESSAGING_PAYLOAD_INVALID",
  /** A message over the configured size limit. */
  MessageTooLarge: "FLT_MESSAGING_MESSAGE_TOO_LARGE",
  /** Thrown by a handler: the message can never succeed, dead-letter it without retrying. */
  Permanent: "FLT_MESSAGING_PERMANENT",
  /** The broker refused or did not confirm a publish; `published` says how many leading messages it did confirm. */
  PublishFailed: "FLT_MESSAGING_PUBLISH_FAILED",
  /** The broker or database cannot be reached right now. */
  TransportUnavailable: "FLT_MESSAGING_TRANSPORT_UNAVAILABLE",
  /** The transport, outbox, relay or consumer was used after `close()`. */
  Closed: "FLT_MESSAGING_CLOSED",
  /** A topic, pattern, queue name or option is not valid; the message names it. */
  ConfigInvalid: "FLT_MESSAGING_CONFIG_INVALID",
  /** No reply arrived for a command within its timeout. */
  ReplyTimeout: "FLT_MESSAGING_REPLY_TIMEOUT",
  /** A command's handler answered with an error. */
  CommandFailed: "FLT_MESSAGING_COMMAND_FAILED",
  /** No dead letter with that id. */
  DeadLetterNotFound: "FLT_MESSAGING_DEAD_LETTER_NOT_FOUND",
} as const;

/** One of {@link MessagingErrorCode}'s values. */
export type MessagingErrorCode = (typeof MessagingErrorCode)[keyof typeof MessagingErrorCode];

const kMessagingError = Symbol.for("flotilla.messaging.error");

/** An error of `@flotilla/messaging` with a stable code; guards check a marker, so they work across package copies. */
export class MessagingError extends FlotillaError {
  constructor(code: MessagingErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    Object.defineProperty(this, kMessagingError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMessagingError(value);
  }
}

/** True for any {@link MessagingError}, from any copy of the package; with `code`, only for that code. */
export function isMessagingError(value: unknown, code?: MessagingErrorCode): value is MessagingError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[kMessagingError] === true &&
    (code === undefined || (value as { code?: unknown }).code === code)
  );
}

/**
 * Throw this from a handler when the message can never succeed (an order that does not exist, a
 * business rule that refuses it): the consumer dead-letters it at once instead of retrying.
 *
 * @example
 * ```ts
 * if (!order) throw new PermanentError(`order ${event.data.orderId} does not exist`);
 * ```
 */
export class PermanentError extends MessagingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(MessagingErrorCode.Permanent, message, options);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isPermanentError(value);
  }
}

/** True for a {@link PermanentError} from any copy of the package. */
export function isPermanentError(value: unknown): value is PermanentError {
  return isMessagingError(value, MessagingErrorCode.Permanent);
}

/** A publish the broker did not confirm; messages before index `published` were confirmed, in order. */
export class PublishFailedError extends MessagingError {
  /** How many leading messages of the batch the broker confirmed before the failure. */
  readonly published: number;

  constructor(message: string, published: number, options?: { cause?: unknown }) {
    super(MessagingErrorCode.PublishFailed, message, options);
    this.published = published;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMessagingError(value, MessagingErrorCode.PublishFailed);
  }
}
