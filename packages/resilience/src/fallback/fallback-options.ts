import type { Clock } from "../clock.js";
import { type ConfigReader, join } from "../config/config-reader.js";
import type { PolicyContext } from "../policy-context.js";
import type { LaterQueue } from "./pending.js";
import type { StaleCacheOptions } from "./stale-cache.js";

/** The `later` strategy of a fallback: hand the work to a queue and answer with a `PendingMarker`. */
export interface LaterOptions {
  /** Where the job goes. */
  readonly queue: LaterQueue;
  /** Builds the job from the call's context and the failure; its return value is passed to `queue.enqueue` as is. */
  readonly job: (context: PolicyContext, error: unknown) => unknown;
}

/**
 * Options of a fallback. Give at least one strategy; when several are given they are tried in
 * this order until one produces a result: `staleCache` → `handler` or `alternative` → `later` →
 * `value`. The cheapest answer that is still real data comes first, a made-up value last.
 */
export interface FallbackOptions {
  /** Appears in events and errors. Default `"default"`. */
  readonly name?: string;
  /** Time source for the stale cache and pending markers. Default `systemClock`. */
  readonly clock?: Clock;
  /**
   * Which errors fall back. Default: every error, except that a call whose own `ctx.signal` is
   * aborted always rejects with the signal's reason. An error this rejects is rethrown untouched.
   */
  readonly handle?: (error: unknown) => boolean;
  /**
   * Treats a returned value as a failure (say, a response with status 503). The strategies then
   * receive that value where they would receive the error; when none produces a result, the
   * value is returned as it was. Results of a strategy itself are never checked.
   */
  readonly handleResult?: (value: unknown) => boolean;
  /**
   * Remembers the last successful result per `ctx.key` (calls without a key share one entry) and
   * serves it on failure while it is younger than `ttl`.
   */
  readonly staleCache?: StaleCacheOptions;
  /** Computes the result from the failure and the context; may be async. Not together with `alternative`. */
  readonly handler?: (error: unknown, context: PolicyContext) => unknown;
  /** Another operation to call instead (another service, a replica); may be async. Not together with `handler`. */
  readonly alternative?: (context: PolicyContext, error: unknown) => unknown;
  /** Hands the work to a queue and returns a `PendingMarker`. */
  readonly later?: LaterOptions;
  /** A constant result, the last resort. `undefined` counts when the key is present. */
  readonly value?: unknown;
}

/** {@link StaleCacheOptions} with `ttl` in milliseconds and defaults applied. */
export interface ResolvedStaleCacheOptions {
  readonly ttl: number;
  readonly maxEntries: number;
}

/** {@link FallbackOptions} after validation, durations in milliseconds. */
export interface ResolvedFallbackOptions {
  readonly name: string;
  readonly clock: Clock;
  readonly handle: ((error: unknown) => boolean) | undefined;
  readonly handleResult: ((value: unknown) => boolean) | undefined;
  readonly staleCache: ResolvedStaleCacheOptions | undefined;
  readonly handler: ((error: unknown, context: PolicyContext) => unknown) | undefined;
  readonly alternative: ((context: PolicyContext, error: unknown) => unknown) | undefined;
  readonly later: LaterOptions | undefined;
  /** Whether a `value` was given (it may be `undefined`). */
  readonly hasValue: boolean;
  readonly value: unknown;
}

const fallbackKeys = [
  "name",
  "clock",
  "handle",
  "handleResult",
  "staleCache",
  "handler",
  "alternative",
  "later",
  "value",
] as const;

/**
 * Reads {@link FallbackOptions} from plain data, recording every problem at its path under
 * `path` (`instances.search.staleCache.ttl`). Function-valued options pass through.
 */
export function parseFallbackOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedFallbackOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, fallbackKeys, path);
  const name = reader.string(obj, "name", path, "default");
  const clock = reader.clock(obj, "clock", path);
  const handle = reader.fn<(error: unknown) => boolean>(obj, "handle", path);
  const handleResult = reader.fn<(value: unknown) => boolean>(obj, "handleResult", path);
  const staleCache =
    obj.staleCache === undefined
      ? undefined
      : parseStaleCacheOptions(obj.staleCache, reader, join(path, "staleCache"));
  const handler = reader.fn<(error: unknown, context: PolicyContext) => unknown>(obj, "handler", path);
  const alternative = reader.fn<(context: PolicyContext, error: unknown) => unknown>(
    obj,
    "alternative",
    path,
  );
  if (obj.handler !== undefined && obj.alternative !== undefined) {
    reader.issue(join(path, "alternative"), "give either handler or alternative, not both");
  }
  const later =
    obj.later === undefined ? undefined : parseLaterOptions(obj.later, reader, join(path, "later"));
  const hasValue = Object.hasOwn(obj, "value");
  if (
    staleCache === undefined &&
    obj.handler === undefined &&
    obj.alternative === undefined &&
    obj.later === undefined &&
    !hasValue
  ) {
    reader.issue(path, "expected at least one strategy: staleCache, handler, alternative, later or value");
  }
  return {
    name,
    clock,
    handle,
    handleResult,
    staleCache,
    handler,
    alternative,
    later,
    hasValue,
    value: obj.value,
  };
}

/** Reads {@link StaleCacheOptions}: `ttl` is required and above 0, `maxEntries` a whole number ≥ 1 (default 1000). */
export function parseStaleCacheOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedStaleCacheOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["ttl", "maxEntries"], path);
  if (obj.ttl === undefined)
    reader.issue(join(path, "ttl"), 'required: how long a result may be served, such as "5m"');
  const ttl = reader.duration(obj, "ttl", path, 0, { above: 0 });
  const maxEntries = reader.number(obj, "maxEntries", path, 1000, { integer: true, min: 1 });
  return { ttl, maxEntries };
}

function parseLaterOptions(raw: unknown, reader: ConfigReader, path: string): LaterOptions | undefined {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["queue", "job"], path);
  const queue = obj.queue as Partial<LaterQueue> | undefined;
  if (typeof queue !== "object" || queue === null || typeof queue.enqueue !== "function") {
    reader.issue(join(path, "queue"), "expected an object with an enqueue(job) method");
  }
  const job = reader.fn<LaterOptions["job"]>(obj, "job", path);
  if (obj.job === undefined) reader.issue(join(path, "job"), "required: a function (context, error) => job");
  if (job === undefined) return undefined;
  return { queue: queue as LaterQueue, job };
}
