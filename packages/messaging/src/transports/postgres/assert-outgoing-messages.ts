import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { assertTopic } from "../../transport/topic.js";
import type { OutgoingMessage } from "../../transport/transport.js";

/**
 * Throws `FLT_MESSAGING_CONFIG_INVALID` naming the first field of `messages` that cannot be
 * published (`messages[2].topic`), before anything is written.
 */
export function assertOutgoingMessages(messages: readonly OutgoingMessage[]): void {
  if (!Array.isArray(messages)) {
    throw invalid(`publish: expected an array of messages, got ${typeof messages}`);
  }
  messages.forEach((m: OutgoingMessage, index) => {
    const at = `messages[${index}]`;
    if (typeof m !== "object" || m === null) throw invalid(`publish: ${at} must be an object`);
    if (typeof m.id !== "string" || m.id.length === 0)
      throw invalid(`publish: ${at}.id must be a non-empty string`);
    assertTopic(m.topic, `publish: ${at}.topic`);
    if (m.key !== undefined && typeof m.key !== "string")
      throw invalid(`publish: ${at}.key must be a string`);
    if (!(m.body instanceof Uint8Array)) throw invalid(`publish: ${at}.body must be a Uint8Array`);
    if (m.headers !== undefined) {
      if (typeof m.headers !== "object" || m.headers === null || Array.isArray(m.headers)) {
        throw invalid(`publish: ${at}.headers must be an object of strings`);
      }
      for (const [name, value] of Object.entries(m.headers)) {
        if (typeof value !== "string") throw invalid(`publish: ${at}.headers.${name} must be a string`);
      }
    }
    if (
      m.delayMs !== undefined &&
      !(typeof m.delayMs === "number" && Number.isFinite(m.delayMs) && m.delayMs >= 0)
    ) {
      throw invalid(`publish: ${at}.delayMs must be a non-negative number, got ${String(m.delayMs)}`);
    }
  });
}

function invalid(message: string): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, message);
}
