/** A duration: milliseconds as a number, or a string such as `"250ms"`, `"5s"`, `"1m30s"`, `"2h"`. */
export type Duration = number | string;

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Converts a {@link Duration} to milliseconds. Throws a `TypeError` naming the bad value for
 * anything else (negative numbers, `NaN`, unknown units, empty strings).
 */
export function parseDuration(value: Duration): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(`expected a non-negative number of milliseconds, got ${value}`);
    }
    return value;
  }
  if (typeof value !== "string") {
    throw new TypeError(`expected a duration such as "250ms" or "5s" or milliseconds, got ${typeof value}`);
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  part.lastIndex = 0;
  while (part.lastIndex < text.length) {
    const start = part.lastIndex;
    const match = part.exec(text);
    if (match === null || match.index !== start) {
      throw new TypeError(
        `expected a duration such as "250ms", "5s", "1m30s" or milliseconds, got "${value}"`,
      );
    }
    total += Number(match[1]) * unitMs[match[2]!]!;
  }
  if (text.length === 0) throw new TypeError('expected a duration such as "250ms" or "5s", got ""');
  return total;
}
