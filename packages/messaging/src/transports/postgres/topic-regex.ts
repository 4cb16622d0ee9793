import { assertTopicPattern } from "../../transport/topic.js";

/**
 * The PostgreSQL regular expression (for the `~` operator) that matches the same topics as
 * `pattern` does under `topicMatcher`, or `undefined` when the pattern has no wildcard and plain
 * equality is enough. Words are letters, digits, `_` and `-`, none of which a PostgreSQL regular
 * expression treats specially outside brackets, so they go in unescaped.
 */
export function topicRegex(pattern: string): string | undefined {
  assertTopicPattern(pattern);
  const parts = pattern.split(".");
  if (!parts.some((part) => part === "*" || part === "#")) return undefined;
  const source = parts
    .map((part, index) => {
      const dot = index === 0 ? "" : "\\.";
      if (part === "*") return `${dot}[^.]+`;
      if (part === "#") return index === 0 ? "(?:[^.]+(?:\\.[^.]+)*)?" : "(?:\\.[^.]+)*";
      return `${dot}${part}`;
    })
    .join("");
  return `^${source}$`;
}
