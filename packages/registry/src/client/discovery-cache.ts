import {
  type Backoff,
  type Clock,
  ConfigReader,
  EventStream,
  fullJitterBackoff,
  sleep,
  type Unsubscribe,
} from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import type { InstanceRecord } from "../registration.js";
import { RegistryError, RegistryErrorCode } from "../registry-error.js";
import { type ClientLogger, silentLogger } from "./client-logger.js";
import { OutageLog } from "./outage-log.js";
import type { InstanceFilters, InstancesDelta, InstancesResult } from "./registry-api.js";
import type { InstanceStreamHandlers, RegistryClient } from "./registry-client.js";
import { RegistryClientClosedError } from "./registry-client-closed-error.js";

/** Options of {@link discoveryCache}. */
export interface DiscoveryCacheOptions {
  /** The registry, usually a {@link RegistryClient}. */
  readonly client: Pick<RegistryClient, "streamInstances">;
  /** Time source of staleness and retry waits. Default the system clock. */
  readonly clock?: Clock | undefined;
  /** Where outages are logged (once each). Default: nowhere. */
  readonly logger?: ClientLogger | undefined;
  /**
   * How long the registry may stay unreachable before a service's set counts as stale, in
   * milliseconds. Default 30 s. The set is served either way.
   */
  readonly staleAfterMs?: number | undefined;
  /**
   * Unused since the cache follows event streams rather than blocking queries; still validated
   * (above 0, at most 5 min) so that existing configurations keep working.
   *
   * @deprecated A silent stream is detected by the client's `streamIdleTimeoutMs`.
   */
  readonly waitMs?: number | undefined;
  /**
   * The wait before the n-th reconnection in a row. Default full jitter from 100 ms up to 5 s.
   * The count restarts whenever the registry accepts a stream.
   */
  readonly backoff?: Backoff | undefined;
}

/** How current a service's cached set is, from {@link DiscoveryCache.staleness}. */
export interface Staleness {
  /** The registry has been failing for longer than `staleAfterMs`: the set may be out of date. */
  readonly stale: boolean;
  /**
   * Clock reading at which the set was last known to be current: now while its stream is open,
   * else when the stream ended (before the first snapshot, the start of the watch; `-Infinity`
   * for a service not watched).
   */
  readonly lastSyncAt: number;
  /** Milliseconds since `lastSyncAt`. */
  readonly ageMs: number;
  /** The last failure, while the registry is failing. */
  readonly error?: Error;
}

/** Instances, in the registry's order; the array is frozen and replaced on change. */
type InstanceList = readonly ServiceInstance[];

const empty: InstanceList = Object.freeze([]);

interface Watch {
  readonly service: string;
  readonly filters: InstanceFilters;
  records: readonly InstanceRecord[];
  /** The index of the last event applied to `records`: what the next delta must start from. */
  index: number;
  /** Streams in a row ended by a delta that did not apply, with no delta applied since. */
  gaps: number;
  /** A snapshot has arrived at least once (`ready` is resolved). */
  synced: boolean;
  /** The stream is open and has delivered its snapshot: `records` is current. */
  following: boolean;
  lastSyncAt: number;
  error: Error | undefined;
  /** Streams ended in a row without a new one being accepted. */
  failures: number;
  previousDelay: number;
  readonly changes: EventStream<InstanceList>;
  readonly ready: Promise<InstanceList>;
  resolveReady(instances: InstanceList): void;
  rejectReady(error: Error): void;
  loop: Promise<void> | undefined;
}

/**
 * Service instances kept in memory and served synchronously, for the balancers' hot path. The
 * first {@link DiscoveryCache.instances} call for a service (and filters) starts a watch and
 * returns an empty list; {@link DiscoveryCache.ready} waits for the first answer.
 *
 * Each watch follows the service's SSE stream (`GET /v1/services/{s}/stream?deltas=true`,
 * {@link RegistryClient.streamInstances}): a snapshot, then one `delta` event per change carrying
 * only the instances added, changed or removed, which the cache applies to its set — no request
 * per change as a blocking query needs, and no parsing of the whole set per change. A delta that
 * does not start from the index the cache holds (events were missed) or does not fit its set ends
 * the stream and opens a new one at once, whose snapshot resynchronises the set; a second such
 * stream in a row counts as a failure (with backoff). A registry that sends whole lists (`update`
 * events) is followed as well. The client fails a stream over between registry servers when it
 * opens it, and ends it when it stays silent longer than its `streamIdleTimeoutMs` (the registry
 * pings every 15 s), so a half-open connection cannot leave the cache stale unnoticed.
 *
 * When a stream ends, the watch opens a new one after a jittered backoff (up to 5 s, restarted
 * whenever the registry accepts a stream) and meanwhile serves the last known set unchanged; a
 * failure is logged once per outage, and {@link DiscoveryCache.staleness} reports the age. A new
 * stream never resumes from the last event id: the registry that answers may be another server, or
 * one restarted without its state at the very index the cache last saw, so every stream starts
 * with a full snapshot, which replaces the set.
 *
 * A service's array is replaced (and listeners called) only when an instance was added, removed
 * or changed (`modifyIndex`, status, lease), so a caller can compare arrays by reference. The instances
 * are the registry's records (with `status`, `checks`…), typed as {@link ServiceInstance}.
 */
export class DiscoveryCache {
  readonly #client: Pick<RegistryClient, "streamInstances">;
  readonly #clock: Clock;
  readonly #outage: OutageLog;
  readonly #staleAfterMs: number;
  readonly #backoff: Backoff;
  readonly #watches = new Map<string, Watch>();
  // The unfiltered watch of each service, found without building its key: the per-call path of
  // a gateway or client picking an instance.
  readonly #unfiltered = new Map<string, Watch>();
  readonly #abort = new AbortController();
  #closed = false;

  /** Validates `options`; a bad one throws a `ConfigError` naming its path. */
  constructor(options: DiscoveryCacheOptions) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, ["client", "clock", "logger", "staleAfterMs", "waitMs", "backoff"], "");
    if (typeof (obj.client as Partial<RegistryClient> | undefined)?.streamInstances !== "function") {
      reader.issue("client", "expected a registry client with streamInstances()");
    }
    this.#clock = reader.clock(obj, "clock", "");
    this.#staleAfterMs = reader.duration(obj, "staleAfterMs", "", 30_000, { min: 0 });
    reader.duration(obj, "waitMs", "", 30_000, { above: 0, max: 300_000 });
    const backoff = reader.fn<Backoff>(obj, "backoff", "");
    reader.throwIfInvalid();
    this.#client = options.client;
    this.#outage = new OutageLog(options.logger ?? silentLogger, "discovery");
    this.#backoff = backoff ?? fullJitterBackoff({ initialDelay: 100, maxDelay: 5_000 });
  }

  /**
   * The service's instances that pass `filters`, from memory: never blocks, never throws. The
   * first call starts the watch and returns an empty list. The same array comes back until the
   * set changes.
   */
  instances(service: string, filters: InstanceFilters = {}): InstanceList {
    return this.#watch(service, filters).records;
  }

  /**
   * The service's instances once the registry has answered for them at least once; at once when
   * it has. Rejects with a `RegistryClientClosedError` when the cache is closed first.
   */
  ready(service: string, filters: InstanceFilters = {}): Promise<InstanceList> {
    return this.#watch(service, filters).ready;
  }

  /** How current the service's set is (see {@link Staleness}); does not start a watch. */
  staleness(service: string, filters: InstanceFilters = {}): Staleness {
    const watch = this.#watches.get(watchKey(service, filters));
    if (watch === undefined) {
      return { stale: true, lastSyncAt: Number.NEGATIVE_INFINITY, ageMs: Number.POSITIVE_INFINITY };
    }
    const now = this.#clock.now();
    if (watch.following) return { stale: false, lastSyncAt: now, ageMs: 0 };
    const ageMs = now - watch.lastSyncAt;
    if (watch.error === undefined) return { stale: false, lastSyncAt: watch.lastSyncAt, ageMs };
    return { stale: ageMs >= this.#staleAfterMs, lastSyncAt: watch.lastSyncAt, ageMs, error: watch.error };
  }

  /**
   * Calls `listener` with the new set after every change of the service's instances (starting the
   * watch if needed). A listener that throws is reported as a process warning.
   */
  onChange(
    service: string,
    listener: (instances: InstanceList) => void,
    filters: InstanceFilters = {},
  ): Unsubscribe {
    return this.#watch(service, filters).changes.subscribe(listener);
  }

  /** Stops every watch, ending their streams and retry waits, and waits for them to end. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort(new RegistryClientClosedError("discovery cache"));
      for (const watch of this.#watches.values()) {
        this.#unfollow(watch);
        watch.rejectReady(new RegistryClientClosedError("discovery cache"));
      }
    }
    await Promise.all(Array.from(this.#watches.values(), (w) => w.loop));
  }

  #watch(service: string, filters: InstanceFilters): Watch {
    const unfiltered =
      filters.version === undefined &&
      filters.tags === undefined &&
      filters.zone === undefined &&
      filters.status === undefined;
    if (unfiltered) {
      const known = this.#unfiltered.get(service);
      if (known !== undefined) return known;
    }
    const key = watchKey(service, filters);
    const existing = this.#watches.get(key);
    if (existing !== undefined) {
      if (unfiltered) this.#unfiltered.set(service, existing);
      return existing;
    }
    let resolveReady!: (instances: InstanceList) => void;
    let rejectReady!: (error: Error) => void;
    const ready = new Promise<InstanceList>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    // Nobody may be waiting on `ready` when the cache closes.
    ready.catch(() => {});
    const watch: Watch = {
      service,
      filters: normalise(filters),
      records: empty as readonly InstanceRecord[],
      index: -1,
      gaps: 0,
      synced: false,
      following: false,
      lastSyncAt: this.#clock.now(),
      error: undefined,
      failures: 0,
      previousDelay: 0,
      changes: new EventStream<InstanceList>(),
      ready,
      resolveReady,
      rejectReady,
      loop: undefined,
    };
    this.#watches.set(key, watch);
    if (unfiltered) this.#unfiltered.set(service, watch);
    if (this.#closed) watch.rejectReady(new RegistryClientClosedError("discovery cache"));
    else watch.loop = this.#run(watch).catch((error: unknown) => this.#outage.failure(error, { service }));
    return watch;
  }

  async #run(watch: Watch): Promise<void> {
    const signal = this.#abort.signal;
    while (!this.#closed) {
      // A stream of its own to end when a delta does not apply, while the cache goes on.
      const stream = new AbortController();
      const endStream = () => stream.abort();
      signal.addEventListener("abort", endStream, { once: true });
      let gap = false;
      const handlers: InstanceStreamHandlers = {
        signal: stream.signal,
        onOpen: () => {
          watch.failures = 0;
          watch.previousDelay = 0;
        },
        onSnapshot: (result) => {
          if (gap) return;
          watch.following = true;
          watch.error = undefined;
          this.#outage.success({ service: watch.service });
          this.#replace(watch, result);
        },
        onUpdate: (result) => {
          if (!gap) this.#replace(watch, result);
        },
        onDelta: (delta) => {
          if (gap || this.#patch(watch, delta)) return;
          gap = true;
          stream.abort();
        },
      };
      let end: Awaited<ReturnType<RegistryClient["streamInstances"]>>;
      try {
        // Never `lastEventId`: see the class comment.
        end = await this.#client.streamInstances(watch.service, watch.filters, handlers);
      } finally {
        signal.removeEventListener("abort", endStream);
      }
      if (this.#closed) return;
      // A stream the registry ends after its snapshot (shutting down, a proxy's limit) is no failure.
      const followed = this.#unfollow(watch);
      if (gap && ++watch.gaps === 1) continue;
      const error = gap ? outOfSequence() : followed ? end.error : (end.error ?? endedEarly());
      watch.failures++;
      const raw = this.#backoff(watch.failures, error, watch.previousDelay);
      const delay = Number.isFinite(raw) && raw > 0 ? raw : 0;
      watch.previousDelay = delay;
      if (error !== undefined) {
        watch.error = error;
        this.#outage.failure(error, { service: watch.service, retryInMs: Math.round(delay) });
      }
      try {
        await sleep(delay, this.#clock, signal);
      } catch {
        return;
      }
    }
  }

  /** Marks the end of a stream; true when it had delivered its snapshot. */
  #unfollow(watch: Watch): boolean {
    if (!watch.following) return false;
    watch.following = false;
    watch.lastSyncAt = this.#clock.now();
    return true;
  }

  /** Takes a whole list (a snapshot or an update). */
  #replace(watch: Watch, result: InstancesResult): void {
    watch.index = result.index;
    const records = result.instances;
    const changed = !sameSet(watch.records, records);
    if (changed) watch.records = Object.freeze([...records]);
    if (!watch.synced) {
      watch.synced = true;
      watch.resolveReady(watch.records);
    }
    if (changed) watch.changes.emit(watch.records);
  }

  /** Applies a delta; false when it does not apply to what the watch holds (then nothing changed). */
  #patch(watch: Watch, delta: InstancesDelta): boolean {
    if (!watch.following || delta.from !== watch.index) return false;
    const records = patched(watch.records, delta);
    if (records === undefined) return false;
    watch.index = delta.index;
    watch.gaps = 0;
    if (records !== watch.records) {
      watch.records = records;
      watch.changes.emit(records);
    }
    return true;
  }
}

/**
 * Creates a {@link DiscoveryCache}:
 *
 * ```ts
 * const cache = discoveryCache({ client: registryClient({ url: "http://127.0.0.1:8500" }) });
 * await cache.ready("orders");
 * const instances = cache.instances("orders"); // synchronous from here on
 * ```
 */
export function discoveryCache(options: DiscoveryCacheOptions): DiscoveryCache {
  return new DiscoveryCache(options);
}

function endedEarly(): RegistryError {
  return new RegistryError(
    RegistryErrorCode.Unreachable,
    "the registry ended the event stream before its snapshot",
  );
}

function outOfSequence(): RegistryError {
  return new RegistryError(
    RegistryErrorCode.Unreachable,
    "the registry's event stream sent a change that does not apply to the snapshot it sent just before",
  );
}

/** Above this many changes, a delta is applied by one merge pass rather than change by change. */
const spliceLimit = 8;

/**
 * `records` (sorted by id) with `delta` applied, frozen; `records` itself when the delta is empty;
 * `undefined` when it does not fit — it removes an instance `records` lacks, or names one id twice.
 * A small delta (the usual one change) costs a copy and a binary search per change.
 */
function patched(
  records: readonly InstanceRecord[],
  delta: InstancesDelta,
): readonly InstanceRecord[] | undefined {
  const { put, delete: deleted } = delta;
  const changes = put.length + deleted.length;
  if (changes === 0) return records;
  if (changes > 1 && new Set([...deleted, ...put.map((r) => r.id)]).size !== changes) return undefined;
  if (changes > spliceLimit) return merged(records, delta);
  const next = [...records];
  for (const id of deleted) {
    const at = positionOf(next, id);
    if (next[at]?.id !== id) return undefined;
    next.splice(at, 1);
  }
  for (const record of put) {
    const at = positionOf(next, record.id);
    if (next[at]?.id === record.id) next[at] = record;
    else next.splice(at, 0, record);
  }
  return Object.freeze(next);
}

/** {@link patched} for a large delta (its ids known to be distinct): one pass over `records`. */
function merged(
  records: readonly InstanceRecord[],
  delta: InstancesDelta,
): readonly InstanceRecord[] | undefined {
  const deleted = new Set(delta.delete);
  const put = new Map<string, InstanceRecord>();
  for (const record of delta.put) put.set(record.id, record);
  const kept: InstanceRecord[] = [];
  let removed = 0;
  for (const record of records) {
    if (deleted.has(record.id)) {
      removed++;
      continue;
    }
    const replacement = put.get(record.id);
    if (replacement === undefined) kept.push(record);
    else {
      kept.push(replacement);
      put.delete(record.id);
    }
  }
  if (removed !== deleted.size) return undefined;
  const added = [...put.values()].sort(byId);
  const out: InstanceRecord[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length || j < added.length) {
    if (j === added.length || (i < kept.length && kept[i]!.id < added[j]!.id)) out.push(kept[i++]!);
    else out.push(added[j++]!);
  }
  return Object.freeze(out);
}

/** The first position in `records` (sorted by id) whose id is not below `id`. */
function positionOf(records: readonly InstanceRecord[], id: string): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (records[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The registry's order: by id, compared as UTF-16 code units. */
function byId(a: InstanceRecord, b: InstanceRecord): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function normalise(filters: InstanceFilters): InstanceFilters {
  return {
    ...(filters.version === undefined ? {} : { version: filters.version }),
    ...(filters.tags === undefined || filters.tags.length === 0 ? {} : { tags: [...filters.tags].sort() }),
    ...(filters.zone === undefined ? {} : { zone: filters.zone }),
    ...(filters.status === undefined ? {} : { status: filters.status }),
  };
}

function watchKey(service: string, filters: InstanceFilters): string {
  const tags = filters.tags === undefined ? [] : [...filters.tags].sort();
  return JSON.stringify([
    service,
    filters.version ?? null,
    tags,
    filters.zone ?? null,
    filters.status ?? null,
  ]);
}

function sameSet(a: readonly InstanceRecord[], b: readonly InstanceRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.id !== y.id || x.modifyIndex !== y.modifyIndex || x.status !== y.status || x.lease !== y.lease) {
      return false;
    }
  }
  return true;
}
