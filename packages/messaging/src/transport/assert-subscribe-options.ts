import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { assertTopicPattern } from "./topic.js";
import type { SubscribeOptions } from "./transport.js";

/** What a queue name may hold: letters, digits, `.`, `_` and `-`, at most 200 characters. */
export const queueNamePattern = /^[A-Za-z0-9._-]{1,200}$/;

/** Most deliveries a subscription may hold unsettled, unless a transport allows fewer (AMQP's own limit). */
export const maxPrefetch = 65_535;

function invalid(message: string): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, `subscribe: ${message}`);
}

/**
 * Throws `FLT_MESSAGING_CONFIG_INVALID` naming the option (`topics[1]`, `prefetch`) unless
 * `options` is a valid {@link SubscribeOptions}: a queue name of letters, digits, `.`, `_`, `-`;
 * at least one valid topic pattern; a whole-number prefetch from 1 to `limit` (default
 * {@link maxPrefetch}); a handler. Every transport checks its `subscribe` options with it.
 */
export function assertSubscribeOptions(options: SubscribeOptions, limit: number = maxPrefetch): void {
  if (typeof options !== "object" || options === null) throw invalid("options must be an object");
  const { queue, topics, prefetch, handler } = options;
  if (typeof queue !== "string" || !queueNamePattern.test(queue)) {
    throw invalid(`queue must be 1 to 200 letters, digits, ".", "_" or "-", got ${JSON.stringify(queue)}`);
  }
  if (!Array.isArray(topics) || topics.length === 0)
    throw invalid("topics must be a non-empty array of patterns");
  try {
    topics.forEach((pattern, index) => {
      assertTopicPattern(pattern, `topics[${index}]`);
    });
  } catch (cause) {
    throw new MessagingError(MessagingErrorCode.ConfigInvalid, `subscribe: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (typeof prefetch !== "number" || !Number.isInteger(prefetch) || prefetch < 1 || prefetch > limit) {
    throw invalid(`prefetch must be a whole number from 1 to ${limit}, got ${String(prefetch)}`);
  }
  if (typeof handler !== "function") throw invalid("handler must be a function");
}
