import type { Clock } from "../clock.js";
import { type ConfigReader, join } from "../config/config-reader.js";
import type { Duration } from "../duration.js";

/**
 * Options of a bulkhead, after Resilience4j's `SemaphoreBulkhead` (`maxConcurrentCalls`,
 * `maxWaitDuration`) with a bounded FIFO queue in front of it.
 */
export interface BulkheadOptions {
  /** Calls that may run at the same time. Required, a whole number ≥ 1. */
  readonly maxConcurrent: number;
  /** Calls that may wait for a slot, first in first out; beyond that a call fails at once. Default 0 (no waiting). */
  readonly maxQueue?: number;
  /** How long a call may wait in the queue, such as `"500ms"`; above 0. Default: as long as it takes. Ignored when `maxQueue` is 0. */
  readonly maxQueueWait?: Duration;
  /** Appears in errors and events. Default `"default"`. */
  readonly name?: string;
  /** Time source and timers. Default `systemClock`. */
  readonly clock?: Clock;
}

/** {@link BulkheadOptions} after validation, durations in milliseconds. */
export interface ResolvedBulkheadOptions {
  readonly name: string;
  readonly clock: Clock;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  /** Undefined when a queued call may wait as long as it takes. */
  readonly maxQueueWaitMs: number | undefined;
}

const bulkheadKeys = ["name", "clock", "maxConcurrent", "maxQueue", "maxQueueWait"] as const;

/**
 * Reads {@link BulkheadOptions} from plain data, recording every problem at its path under `path`
 * (`bulkhead.instances.payments.maxConcurrent: expected a whole number, got 2.5`).
 */
export function parseBulkheadOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedBulkheadOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, bulkheadKeys, path);
  const name = reader.string(obj, "name", path, "default");
  const clock = reader.clock(obj, "clock", path);
  if (obj.maxConcurrent === undefined) {
    reader.issue(join(path, "maxConcurrent"), "required: how many calls may run at the same time");
  }
  const maxConcurrent = reader.number(obj, "maxConcurrent", path, 1, { integer: true, min: 1 });
  const maxQueue = reader.number(obj, "maxQueue", path, 0, { integer: true, min: 0 });
  const maxQueueWaitMs = reader.optionalDuration(obj, "maxQueueWait", path, { above: 0 });
  return { name, clock, maxConcurrent, maxQueue, maxQueueWaitMs };
}
