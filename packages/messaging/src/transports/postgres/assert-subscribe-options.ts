import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { assertTopicPattern } from "../../transport/topic.js";
import type { SubscribeOptions } from "../../transport/transport.js";

const queueName = /^[A-Za-z0-9._-]{1,200}$/;

/** Most deliveries one subscription may hold unsettled. */
export const maxPrefetch = 10_000;

/** Throws `FLT_MESSAGING_CONFIG_INVALID` naming the first bad field of `options`. */
export function assertSubscribeOptions(options: SubscribeOptions): void {
  if (typeof options !== "object" || options === null) throw invalid("subscribe: expected an options object");
  const { queue, topics, prefetch, handler } = options;
  if (typeof queue !== "string" || !queueName.test(queue)) {
    throw invalid(
      `subscribe: queue must be 1 to 200 letters, digits, ".", "_" and "-", got ${JSON.stringify(queue)}`,
    );
  }
  if (!Array.isArray(topics) || topics.length === 0) {
    throw invalid("subscribe: topics must be a non-empty array of topic patterns");
  }
  topics.forEach((pattern: string, index) => {
    assertTopicPattern(pattern, `subscribe: topics[${index}]`);
  });
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > maxPrefetch) {
    throw invalid(
      `subscribe: prefetch must be a whole number from 1 to ${maxPrefetch}, got ${String(prefetch)}`,
    );
  }
  if (typeof handler !== "function") throw invalid("subscribe: handler must be a function");
}

function invalid(message: string): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, message);
}
