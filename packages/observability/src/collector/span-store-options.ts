import { type Clock, type ConfigReader, type Duration, systemClock } from "@flotilla/resilience";

/** Retention of a span store: how much it keeps, and for how long. */
export interface SpanStoreOptions {
  /** Spans kept in all; past it the least recently updated traces are evicted whole. Default 100 000. */
  readonly maxSpans?: number;
  /**
   * Spans kept for one trace; later spans of that trace are rejected (OTLP partial success), so one
   * runaway trace cannot push every other one out. At most `maxSpans`. Default 10 000 (or `maxSpans`).
   */
  readonly maxSpansPerTrace?: number;
  /** A trace that has received no span for this long is evicted, such as `"30m"`. Default `"1h"`. */
  readonly maxAge?: Duration;
  /** Time source for ages. Default `systemClock`. */
  readonly clock?: Clock;
}

/** {@link SpanStoreOptions} after validation, durations in milliseconds. */
export interface ResolvedSpanStoreOptions {
  readonly maxSpans: number;
  readonly maxSpansPerTrace: number;
  readonly maxAgeMs: number;
  readonly clock: Clock;
}

/** The keys of {@link SpanStoreOptions}, for readers of larger option objects that embed them. */
export const spanStoreOptionKeys = ["maxSpans", "maxSpansPerTrace", "maxAge", "clock"] as const;

/** Default retention: 100 000 spans, 10 000 per trace, one hour. */
export const spanStoreDefaults = {
  maxSpans: 100_000,
  maxSpansPerTrace: 10_000,
  maxAgeMs: 3_600_000,
} as const;

/**
 * Reads the retention keys of `obj` (an options object already read at `path`), recording every
 * problem at its path. Unknown keys are the caller's business, since the keys may share an object.
 */
export function parseSpanStoreOptions(
  obj: Record<string, unknown>,
  reader: ConfigReader,
  path: string,
): ResolvedSpanStoreOptions {
  const maxSpans = reader.number(obj, "maxSpans", path, spanStoreDefaults.maxSpans, {
    integer: true,
    min: 1,
  });
  const maxSpansPerTrace = reader.number(
    obj,
    "maxSpansPerTrace",
    path,
    Math.min(spanStoreDefaults.maxSpansPerTrace, maxSpans),
    { integer: true, min: 1, max: maxSpans },
  );
  const maxAgeMs = reader.duration(obj, "maxAge", path, spanStoreDefaults.maxAgeMs, { above: 0 });
  const clock = obj.clock === undefined ? systemClock : reader.clock(obj, "clock", path);
  return { maxSpans, maxSpansPerTrace, maxAgeMs, clock };
}
