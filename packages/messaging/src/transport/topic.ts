import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";

const word = /^[A-Za-z0-9_-]+$/;

/** Longest topic or pattern, in characters (AMQP routing keys stop at 255 bytes). */
export const maxTopicLength = 255;

/**
 * Throws `FLT_MESSAGING_CONFIG_INVALID` unless `topic` is dot-separated words of letters, digits,
 * `_` and `-` (what RabbitMQ routing keys, NATS subjects and PostgreSQL can all carry unchanged).
 */
export function assertTopic(topic: string, what = "topic"): void {
  if (typeof topic !== "string" || topic.length === 0 || topic.length > maxTopicLength) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `${what} must be 1 to ${maxTopicLength} characters, got ${JSON.stringify(topic)}`,
    );
  }
  for (const part of topic.split(".")) {
    if (!word.test(part)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `${what} ${JSON.stringify(topic)} must be dot-separated words of letters, digits, "_" and "-"`,
      );
    }
  }
}

/**
 * Throws `FLT_MESSAGING_CONFIG_INVALID` unless `pattern` is a topic whose words may also be `*`
 * (exactly one word) or, as the last word only, `#` (zero or more words) — the subset of AMQP
 * topic patterns that NATS subjects (`*`, `>`) can express too.
 */
export function assertTopicPattern(pattern: string, what = "topic pattern"): void {
  if (typeof pattern !== "string" || pattern.length === 0 || pattern.length > maxTopicLength) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `${what} must be 1 to ${maxTopicLength} characters, got ${JSON.stringify(pattern)}`,
    );
  }
  const parts = pattern.split(".");
  parts.forEach((part, index) => {
    if (part === "*" || word.test(part)) return;
    if (part === "#" && index === parts.length - 1) return;
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `${what} ${JSON.stringify(pattern)}: "${part}" must be a word, "*", or "#" as the last word`,
    );
  });
}

/** A predicate that tells whether a topic matches `pattern` (see {@link assertTopicPattern}). */
export function topicMatcher(pattern: string): (topic: string) => boolean {
  assertTopicPattern(pattern);
  const source = pattern
    .split(".")
    .map((part, index) => {
      const dot = index === 0 ? "" : "\\.";
      if (part === "*") return `${dot}[^.]+`;
      if (part === "#") return index === 0 ? "(?:[^.]+(?:\\.[^.]+)*)?" : "(?:\\.[^.]+)*";
      return `${dot}${part.replace(/-/g, "\\-")}`;
    })
    .join("");
  const regex = new RegExp(`^${source}$`);
  return (topic) => regex.test(topic);
}
