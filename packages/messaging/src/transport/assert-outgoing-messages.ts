import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { assertTopic } from "./topic.js";
import type { OutgoingMessage } from "./transport.js";

function invalid(message: string, cause?: unknown): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, `publish: ${message}`, { cause });
}

/**
 * Throws `FLT_MESSAGING_CONFIG_INVALID` naming the field (`messages[2].topic`) unless every
 * message has a non-empty string `id`, a valid topic, an optional string `key`, optional string
 * `headers`, a `Uint8Array` body and an optional finite `delayMs` of at least 0.
 */
export function assertOutgoingMessages(messages: readonly OutgoingMessage[]): void {
  if (!Array.isArray(messages)) throw invalid("messages must be an array");
  messages.forEach((message, index) => {
    const at = `messages[${index}]`;
    if (typeof message !== "object" || message === null) throw invalid(`${at} must be an object`);
    if (typeof message.id !== "string" || message.id.length === 0)
      throw invalid(`${at}.id must be a non-empty string`);
    try {
      assertTopic(message.topic, `${at}.topic`);
    } catch (cause) {
      throw invalid((cause as Error).message, cause);
    }
    if (message.key !== undefined && typeof message.key !== "string")
      throw invalid(`${at}.key must be a string`);
    if (message.headers !== undefined) {
      if (typeof message.headers !== "object" || message.headers === null) {
        throw invalid(`${at}.headers must be an object of strings`);
      }
      for (const [name, value] of Object.entries(message.headers)) {
        if (typeof value !== "string") throw invalid(`${at}.headers.${name} must be a string`);
      }
    }
    if (!(message.body instanceof Uint8Array)) throw invalid(`${at}.body must be a Uint8Array`);
    const { delayMs } = message;
    if (delayMs !== undefined && (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0)) {
      throw invalid(`${at}.delayMs must be a finite number of at least 0, got ${String(delayMs)}`);
    }
  });
}
