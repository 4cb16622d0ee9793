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
import { type ClientLogger, silentLogger } from "./client-logger.js";
import { OutageLog } from "./outage-log.js";
import type { InstanceFilters, RegistryApi } from "./registry-api.js";
import { RegistryClientClosedError } from "./registry-client-closed-error.js";

/** Options of {@link discoveryCache}. */
export interface DiscoveryCacheOptions {
  /** The registry, usually a {@link RegistryClient}. */
  readonly client: Pick<RegistryApi, "instances">;
  /** Time source of staleness and retry waits. Default the system clock. */
  readonly clock?: Clock | undefined;
  /** Where outages are logged (once each). Default: nowhere. */
  readonly logger?: ClientLogger | undefined;
  /**
   * How long the registry may stay unreachable before a service's set counts as stale, in
   * milliseconds. Default 30 s. The set is served either way.
   */
  readonly staleAfterMs?: number | undefined;
  /** How long the registry may hold each blocking query, in milliseconds. Default 30 s. */
  readonly waitMs?: number | undefined;
  /** The wait before the n-th retry of a failed query. Default full jitter from 100 ms up to 5 s. */
  readonly backoff?: Backoff | undefined;
}

/** How current a service's cached set is, from {@link DiscoveryCache.staleness}. */
export interface Staleness {
  /** The registry has been failing for longer than `staleAfterMs`: the set may be out of date. */
  readonly stale: boolean;
  /** Clock reading of the last answer (before the first, of the start of the watch; `-Infinity` for a service not watched). */
  readonly lastSyncAt: number;
  /** Milliseconds since `lastSyncAt`. */
  readonly ageMs: number;
  /** The last failure, while the registry is failing. */
  readonly error?: Error;
}

/** Instances, in the registry's order; the array is frozen and replaced on change. */
type InstanceList = readonly ServiceInstance[];

const empty: InstanceList = Object.freeze([]);

/** How often a service whose index is still 0 (never written) is asked again. */
const emptyPollMs = 1_000;

interface Watch {
  readonly service: string;
  readonly filters: InstanceFilters;
  records: readonly InstanceRecord[];
  /** The index to block on; `undefined` sends a query that answers at once. */
  index: number | undefined;
  synced: boolean;
  lastSyncAt: number;
  error: Error | undefined;
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
 * Each watch is a loop of blocking queries (`GET /v1/services/{s}?index=N&wait=…`), rather than
 * the SSE stream: a blocking query is one ordinary request, so it fails over between registry
 * servers call by call, is bounded by the client's timeout (a silent half-open connection cannot
 * leave the cache stale unnoticed), and resynchronises from the index alone — while an SSE stream
 * would need its own liveness timer, reconnect loop and resume logic to reach the same place, and
 * would save only the request line per change.
 *
 * While the registry is unreachable the last known set is served unchanged, retries back off
 * (jittered, up to 5 s) and the outage is logged once; {@link DiscoveryCache.staleness} reports
 * the age. When the registry answers again the set is replaced by its answer. When an answer's
 * index is lower than the one the query sent (a restarted registry, another server), the next
 * query is sent without an index, as API.md requires; so is the first query after a failure, since
 * a registry restarted without its state may be back at the very index the cache last saw. A service the registry has never seen has
 * index 0, which a blocking query cannot wait on: it is asked again every second until it appears.
 *
 * A service's array is replaced (and listeners called) only when an instance was added, removed
 * or changed (`modifyIndex`, status, lease), so a caller can compare arrays by reference. The instances
 * are the registry's records (with `status`, `checks`…), typed as {@link ServiceInstance}.
 */
export class DiscoveryCache {
  readonly #client: Pick<RegistryApi, "instances">;
  readonly #clock: Clock;
  readonly #outage: OutageLog;
  readonly #staleAfterMs: number;
  readonly #waitMs: number;
  readonly #backoff: Backoff;
  readonly #watches = new Map<string, Watch>();
  readonly #abort = new AbortController();
  #closed = false;

  /** Validates `options`; a bad one throws a `ConfigError` naming its path. */
  constructor(options: DiscoveryCacheOptions) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, ["client", "clock", "logger", "staleAfterMs", "waitMs", "backoff"], "");
    if (typeof (obj.client as Partial<RegistryApi> | undefined)?.instances !== "function") {
      reader.issue("client", "expected a registry client with instances()");
    }
    this.#clock = reader.clock(obj, "clock", "");
    this.#staleAfterMs = reader.duration(obj, "staleAfterMs", "", 30_000, { min: 0 });
    this.#waitMs = reader.duration(obj, "waitMs", "", 30_000, { above: 0, max: 300_000 });
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
    const ageMs = this.#clock.now() - watch.lastSyncAt;
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

  /** Stops every watch, aborting the queries in flight, and waits for them to end. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort(new RegistryClientClosedError("discovery cache"));
      for (const watch of this.#watches.values()) {
        watch.rejectReady(new RegistryClientClosedError("discovery cache"));
      }
    }
    await Promise.all(Array.from(this.#watches.values(), (w) => w.loop));
  }

  #watch(service: string, filters: InstanceFilters): Watch {
    const key = watchKey(service, filters);
    const existing = this.#watches.get(key);
    if (existing !== undefined) return existing;
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
      index: undefined,
      synced: false,
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
    if (this.#closed) watch.rejectReady(new RegistryClientClosedError("discovery cache"));
    else watch.loop = this.#run(watch).catch((error: unknown) => this.#outage.failure(error, { service }));
    return watch;
  }

  async #run(watch: Watch): Promise<void> {
    const signal = this.#abort.signal;
    while (!this.#closed) {
      const sent = watch.index;
      let answer: { index: number; instances: readonly InstanceRecord[] };
      try {
        answer = await this.#client.instances(watch.service, {
          ...watch.filters,
          ...(sent === undefined ? {} : { index: sent, waitMs: this.#waitMs }),
          signal,
        });
      } catch (error) {
        if (this.#closed) return;
        const err = error instanceof Error ? error : new Error(String(error));
        watch.error = err;
        // The registry may come back as another server, or restarted without its state, at the
        // same index: resynchronise with a query that answers at once.
        watch.index = undefined;
        watch.failures++;
        const raw = this.#backoff(watch.failures, err, watch.previousDelay);
        const delay = Number.isFinite(raw) && raw > 0 ? raw : 0;
        watch.previousDelay = delay;
        this.#outage.failure(err, { service: watch.service, retryInMs: Math.round(delay) });
        try {
          await sleep(delay, this.#clock, signal);
        } catch {
          return;
        }
        continue;
      }
      if (this.#closed) return;
      this.#outage.success({ service: watch.service });
      watch.error = undefined;
      watch.failures = 0;
      watch.previousDelay = 0;
      watch.lastSyncAt = this.#clock.now();
      watch.index = sent !== undefined && answer.index < sent ? undefined : answer.index;
      this.#apply(watch, answer.instances);
      if (answer.index === 0) {
        // A service never written has index 0, and a query for index 0 answers at once: poll instead.
        try {
          await sleep(emptyPollMs, this.#clock, signal);
        } catch {
          return;
        }
      }
    }
  }

  #apply(watch: Watch, records: readonly InstanceRecord[]): void {
    const changed = !sameSet(watch.records, records);
    if (changed) watch.records = Object.freeze([...records]);
    if (!watch.synced) {
      watch.synced = true;
      watch.resolveReady(watch.records);
    }
    if (changed) watch.changes.emit(watch.records);
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
