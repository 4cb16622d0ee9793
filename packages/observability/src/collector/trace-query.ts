import { ConfigReader, type Duration } from "@flotilla/resilience";
import { InvalidTraceQueryError } from "./collector-error.js";

/** A point in time: Unix epoch milliseconds, a `Date`, or an ISO 8601 string such as `"2025-01-31T12:00:00Z"`. */
export type TimeInput = number | Date | string;

/** A time window; either end may be left open. */
export interface TimeWindow {
  /** Earliest start included. */
  readonly from?: TimeInput;
  /** Latest start included. */
  readonly to?: TimeInput;
}

/** Filters for listing traces. Every filter given must hold. */
export interface TraceQuery extends TimeWindow {
  /** Only traces with at least one span of this service. */
  readonly service?: string;
  /** Only traces with a span of this name (of `service`, when that is given too). */
  readonly operation?: string;
  /** Only traces with at least one span whose status is ERROR. */
  readonly errorsOnly?: boolean;
  /** Only traces that last at least this long, such as `"250ms"` or a number of milliseconds. */
  readonly minDuration?: Duration;
  /** At most this many summaries, the most recent first. 1–1000, default 20. */
  readonly limit?: number;
}

/** A {@link TimeWindow} after validation, in epoch milliseconds (infinite when open). */
export interface ResolvedTimeWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

/** A {@link TraceQuery} after validation. */
export interface ResolvedTraceQuery extends ResolvedTimeWindow {
  readonly service: string | undefined;
  readonly operation: string | undefined;
  readonly errorsOnly: boolean;
  readonly minDurationMs: number;
  readonly limit: number;
}

const queryKeys = ["service", "operation", "errorsOnly", "minDuration", "from", "to", "limit"] as const;

/** Validates a {@link TraceQuery}; throws an {@link InvalidTraceQueryError} listing every bad filter. */
export function parseTraceQuery(raw: TraceQuery = {}): ResolvedTraceQuery {
  const reader = new ConfigReader();
  const obj = reader.object(raw, "");
  reader.knownKeys(obj, queryKeys, "");
  const service = obj.service === undefined ? undefined : reader.string(obj, "service", "", "");
  const operation = obj.operation === undefined ? undefined : reader.string(obj, "operation", "", "");
  const errorsOnly = reader.boolean(obj, "errorsOnly", "", false);
  const minDurationMs = reader.duration(obj, "minDuration", "", 0);
  const limit = reader.number(obj, "limit", "", 20, { integer: true, min: 1, max: 1000 });
  const window = readWindow(obj, reader);
  if (reader.issues.length > 0) throw new InvalidTraceQueryError(reader.issues);
  return { service, operation, errorsOnly, minDurationMs, limit, ...window };
}

/** Validates a {@link TimeWindow}; throws an {@link InvalidTraceQueryError} for a bad end. */
export function parseTimeWindow(raw: TimeWindow = {}): ResolvedTimeWindow {
  const reader = new ConfigReader();
  const obj = reader.object(raw, "");
  reader.knownKeys(obj, ["from", "to"], "");
  const window = readWindow(obj, reader);
  if (reader.issues.length > 0) throw new InvalidTraceQueryError(reader.issues);
  return window;
}

function readWindow(obj: Record<string, unknown>, reader: ConfigReader): ResolvedTimeWindow {
  const fromMs = readTime(obj.from, "from", reader) ?? Number.NEGATIVE_INFINITY;
  const toMs = readTime(obj.to, "to", reader) ?? Number.POSITIVE_INFINITY;
  if (fromMs > toMs) reader.issue("to", "must not be before from");
  return { fromMs, toMs };
}

function readTime(value: unknown, key: string, reader: ConfigReader): number | undefined {
  if (value === undefined) return undefined;
  let ms = Number.NaN;
  if (typeof value === "number") ms = value;
  else if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "string") ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    reader.issue(key, "expected epoch milliseconds, a Date or an ISO 8601 time");
    return undefined;
  }
  return ms;
}
