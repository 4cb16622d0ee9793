import type { Clock, TimerHandle } from "@flotilla/resilience";
import type { InstanceRecord } from "../registration.js";
import type { Store, StoreEntry, StoreEvent, StoreWatch } from "../store/store.js";
import { ChangeTopics } from "./change-topics.js";
import {
  decodeInstance,
  decodeLease,
  type LeaseMarker,
  storeLayout,
  type ViewInstance,
} from "./store-layout.js";

/** One KV entry as the API returns it. */
export interface KvEntry {
  readonly key: string;
  readonly value: string;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** One service's instances in the view. */
export interface ServiceView {
  readonly name: string;
  /** Index of the last change to this service's instances (including the removal of the last one). */
  readonly index: number;
  readonly instances: ReadonlyMap<string, ViewInstance>;
  /** The instance records sorted by id; the same array until the service changes. */
  sorted(): readonly InstanceRecord[];
}

/** What the view tells its owner about, while applying changes. */
export interface ViewObserver {
  /** An instance record was written or removed (`current` undefined). */
  instanceChanged?(current: ViewInstance | undefined, previous: ViewInstance | undefined): void;
  /** A lease marker was removed, with what it said when the view knew it. */
  leaseDeleted?(lease: string, marker: LeaseMarker | undefined): void;
  /** The view was rebuilt from a fresh list (at start and after a watch reset). */
  relisted?(): void;
  /** A problem worth a log line (a watch error, an unreadable record). */
  warn?(message: string, error?: unknown): void;
}

/** What {@link RegistryView} needs. */
export interface RegistryViewOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly observer?: ViewObserver;
  /** Deleted KV keys whose deletion index is remembered, so a blocking read on them stays precise. */
  readonly kvTombstones?: number;
}

interface IndexWaiter {
  readonly index: number;
  readonly resolve: (reached: boolean) => void;
  timer: TimerHandle | undefined;
}

/**
 * The registry server's in-memory copy of its store: instances by service, lease markers and KV
 * entries, kept current by one `watch("")` after an initial `list("")` (and a fresh list after a
 * watch reset). Every read of the HTTP API is answered from here, never by a store round trip;
 * {@link RegistryView.topics} wakes blocking queries and streams for exactly what changed.
 */
export class RegistryView {
  /** Where blocking queries and streams subscribe. */
  readonly topics = new ChangeTopics();
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #observer: ViewObserver;
  readonly #kvTombstoneLimit: number;
  readonly #services = new Map<string, ServiceEntry>();
  readonly #serviceOfId = new Map<string, string>();
  readonly #leases = new Map<string, LeaseMarker>();
  readonly #kv = new Map<string, KvEntry>();
  readonly #kvTombstones = new Map<string, number>();
  #kvSorted: string[] | undefined;
  #instanceCount = 0;
  #index = 0;
  /** Index of the last (re)list: the index of anything the view never saw change. */
  #baseIndex = 0;
  #kvFloor = 0;
  #servicesIndex = 0;
  #watch: StoreWatch | undefined;
  #relisting: StoreEvent[] | undefined;
  #waiters: IndexWaiter[] = [];
  #closed = false;

  constructor(options: RegistryViewOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#observer = options.observer ?? {};
    this.#kvTombstoneLimit = options.kvTombstones ?? 10_000;
  }

  /** Lists the store and starts watching it; resolves when the view is current. */
  async start(): Promise<void> {
    const snapshot = await this.#store.list("");
    if (this.#closed) return;
    this.#rebuild(snapshot.entries, snapshot.index);
    this.#watch = this.#store.watch("", snapshot.index, {
      onEvents: (events) => this.#onEvents(events),
      onReset: () => {
        void this.#relist();
      },
      onError: (error) => this.#observer.warn?.("store watch failed; the store reconnects", error),
    });
  }

  /** Stops watching and releases every {@link RegistryView.waitForIndex}. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.close();
    this.#watch = undefined;
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
  }

  /** The store index the view reflects. */
  get index(): number {
    return this.#index;
  }

  /** Instances in the view. */
  get instanceCount(): number {
    return this.#instanceCount;
  }

  /** Live lease markers in the view. */
  get leaseCount(): number {
    return this.#leases.size;
  }

  /** KV entries in the view. */
  get kvCount(): number {
    return this.#kv.size;
  }

  /**
   * Resolves `true` once the view has applied index `index` (a write this server just made), or
   * `false` after `timeoutMs` or on close, so a write's answer reflects the write in later reads.
   */
  waitForIndex(index: number, timeoutMs: number): Promise<boolean> {
    if (this.#index >= index) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: IndexWaiter = { index, resolve, timer: undefined };
      waiter.timer = this.#clock.setTimeout(() => {
        waiter.timer = undefined;
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** One service, or `undefined` when the view never saw it (or forgot it in a re-list). */
  service(name: string): ServiceView | undefined {
    return this.#services.get(name);
  }

  /** The index a query on service `name` reports. */
  serviceIndex(name: string): number {
    return Math.max(1, this.#services.get(name)?.index ?? this.#baseIndex);
  }

  /** Services that have at least one instance, in name order. */
  services(): ServiceView[] {
    const out: ServiceView[] = [];
    for (const entry of this.#services.values()) if (entry.instances.size > 0) out.push(entry);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The index `GET /v1/services` reports: the last change to any instance. */
  get servicesIndex(): number {
    return Math.max(1, this.#servicesIndex, this.#baseIndex);
  }

  /** The instance with this id, in whichever service it is. */
  instanceById(id: string): ViewInstance | undefined {
    const service = this.#serviceOfId.get(id);
    return service === undefined ? undefined : this.#services.get(service)?.instances.get(id);
  }

  /** The instance `service`/`id`. */
  instance(service: string, id: string): ViewInstance | undefined {
    return this.#services.get(service)?.instances.get(id);
  }

  /** Every instance, for a sweep after a re-list. */
  *instances(): IterableIterator<ViewInstance> {
    for (const entry of this.#services.values()) yield* entry.instances.values();
  }

  /** A lease marker by lease id. */
  lease(id: string): LeaseMarker | undefined {
    return this.#leases.get(id);
  }

  /** A KV entry, or `undefined`. */
  kvEntry(key: string): KvEntry | undefined {
    return this.#kv.get(key);
  }

  /** The index a read of KV key `key` reports: its last change, present or deleted. */
  kvKeyIndex(key: string): number {
    return Math.max(1, this.#kv.get(key)?.modifyIndex ?? this.#kvTombstones.get(key) ?? this.#kvFloor);
  }

  /** Every KV entry under `prefix` in key order, and the index of the last change under it. */
  kvList(prefix: string): { readonly index: number; readonly entries: KvEntry[] } {
    const keys = this.#sortedKvKeys();
    const entries: KvEntry[] = [];
    let index = this.#kvFloor;
    let at = prefix === "" ? 0 : lowerBound(keys, prefix);
    for (; at < keys.length; at++) {
      const key = keys[at]!;
      if (!key.startsWith(prefix)) break;
      const entry = this.#kv.get(key)!;
      entries.push(entry);
      if (entry.modifyIndex > index) index = entry.modifyIndex;
    }
    for (const [key, deletedAt] of this.#kvTombstones) {
      if (deletedAt > index && key.startsWith(prefix)) index = deletedAt;
    }
    return { index: Math.max(1, index), entries };
  }

  #onEvents(events: readonly StoreEvent[]): void {
    if (this.#closed) return;
    if (this.#relisting !== undefined) {
      this.#relisting.push(...events);
      return;
    }
    const services = new Set<string>();
    const kvKeys = new Set<string>();
    for (const event of events) {
      if (event.index <= this.#index) continue;
      this.#apply(event, services, kvKeys);
      this.#index = event.index;
    }
    this.topics.notify(services, kvKeys);
    this.#releaseWaiters();
  }

  async #relist(): Promise<void> {
    if (this.#relisting !== undefined || this.#closed) return;
    this.#relisting = [];
    try {
      const snapshot = await this.#store.list("");
      if (this.#closed) return;
      const buffered = this.#relisting;
      this.#relisting = undefined;
      this.#rebuild(snapshot.entries, snapshot.index, true);
      this.#onEvents(buffered.filter((e) => e.index > snapshot.index));
    } catch (error) {
      const buffered = this.#relisting ?? [];
      this.#relisting = undefined;
      this.#observer.warn?.("re-listing the store after a watch reset failed; retrying", error);
      this.#onEvents(buffered);
      this.#clock.setTimeout(() => void this.#relist(), 1000, true);
    }
  }

  /**
   * Replaces the view with a fresh list at `index`. After a re-list (`relisted`), every service
   * reports `index`: what changed while the watch was away (an instance removed) need not have
   * raised the highest `modifyIndex` left, and an unchanged index would keep blocking queries,
   * answer caches and streams on the old result.
   */
  #rebuild(entries: readonly StoreEntry[], index: number, relisted = false): void {
    const before = [...this.instances()];
    this.#services.clear();
    this.#serviceOfId.clear();
    this.#leases.clear();
    this.#kv.clear();
    this.#kvTombstones.clear();
    this.#kvSorted = undefined;
    this.#instanceCount = 0;
    this.#servicesIndex = 0;
    this.#index = index;
    this.#baseIndex = index;
    this.#kvFloor = index;
    const ignored = new Set<string>();
    for (const entry of entries) this.#put(entry, ignored, ignored);
    if (relisted) for (const service of this.#services.values()) service.index = index;
    for (const instance of before) {
      const now = this.instance(instance.record.service, instance.record.id);
      if (now === undefined) this.#tell(() => this.#observer.instanceChanged?.(undefined, instance));
    }
    this.#tell(() => this.#observer.relisted?.());
    this.topics.notify(ignored, ignored, true);
    this.#releaseWaiters();
  }

  #apply(event: StoreEvent, services: Set<string>, kvKeys: Set<string>): void {
    if (event.type === "put" && event.entry !== undefined) {
      this.#put(event.entry, services, kvKeys);
      return;
    }
    const key = event.key;
    if (key.startsWith(storeLayout.instances)) {
      const [service, id] = splitInstanceKey(key);
      if (service === undefined) return;
      const entry = this.#services.get(service);
      const previous = entry?.instances.get(id);
      if (entry === undefined || previous === undefined) return;
      entry.delete(id, event.index);
      this.#instanceCount--;
      if (this.#serviceOfId.get(id) === service) this.#serviceOfId.delete(id);
      this.#servicesIndex = event.index;
      services.add(service);
      this.#tell(() => this.#observer.instanceChanged?.(undefined, previous));
    } else if (key.startsWith(storeLayout.leases)) {
      const lease = key.slice(storeLayout.leases.length);
      const marker = this.#leases.get(lease);
      this.#leases.delete(lease);
      this.#tell(() => this.#observer.leaseDeleted?.(lease, marker));
    } else if (key.startsWith(storeLayout.kv)) {
      const userKey = key.slice(storeLayout.kv.length);
      if (!this.#kv.delete(userKey)) return;
      this.#kvSorted = undefined;
      this.#kvTombstones.set(userKey, event.index);
      if (this.#kvTombstones.size > this.#kvTombstoneLimit) {
        const [oldest, at] = this.#kvTombstones.entries().next().value as [string, number];
        this.#kvTombstones.delete(oldest);
        this.#kvFloor = Math.max(this.#kvFloor, at);
      }
      kvKeys.add(userKey);
    }
  }

  #put(entry: StoreEntry, services: Set<string>, kvKeys: Set<string>): void {
    const key = entry.key;
    if (key.startsWith(storeLayout.instances)) {
      const [service, id] = splitInstanceKey(key);
      if (service === undefined) return;
      const instance = decodeInstance(entry);
      if (instance === undefined || instance.record.service !== service || instance.record.id !== id) {
        this.#observer.warn?.(`skipping unreadable instance record at "${key}"`);
        return;
      }
      let serviceEntry = this.#services.get(service);
      if (serviceEntry === undefined) {
        serviceEntry = new ServiceEntry(service);
        this.#services.set(service, serviceEntry);
      }
      const previous = serviceEntry.instances.get(id);
      serviceEntry.set(id, instance, entry.modifyIndex);
      if (previous === undefined) this.#instanceCount++;
      this.#serviceOfId.set(id, service);
      if (entry.modifyIndex > this.#servicesIndex) this.#servicesIndex = entry.modifyIndex;
      services.add(service);
      this.#tell(() => this.#observer.instanceChanged?.(instance, previous));
    } else if (key.startsWith(storeLayout.leases)) {
      const marker = decodeLease(entry.value);
      if (marker !== undefined) this.#leases.set(key.slice(storeLayout.leases.length), marker);
    } else if (key.startsWith(storeLayout.kv)) {
      const userKey = key.slice(storeLayout.kv.length);
      if (!this.#kv.has(userKey)) this.#kvSorted = undefined;
      this.#kv.set(userKey, {
        key: userKey,
        value: entry.value,
        createIndex: entry.createIndex,
        modifyIndex: entry.modifyIndex,
      });
      this.#kvTombstones.delete(userKey);
      kvKeys.add(userKey);
    }
  }

  /** Calls the observer; its failure must not leave the view half-applied. */
  #tell(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#observer.warn?.("a registry view observer failed", error);
    }
  }

  #sortedKvKeys(): string[] {
    if (this.#kvSorted === undefined) this.#kvSorted = [...this.#kv.keys()].sort();
    return this.#kvSorted;
  }

  #releaseWaiters(): void {
    if (this.#waiters.length === 0) return;
    const still: IndexWaiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.index <= this.#index) {
        if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
        waiter.resolve(true);
      } else {
        still.push(waiter);
      }
    }
    this.#waiters = still;
  }
}

class ServiceEntry implements ServiceView {
  readonly name: string;
  index = 0;
  readonly instances = new Map<string, ViewInstance>();
  #sorted: InstanceRecord[] | undefined;

  constructor(name: string) {
    this.name = name;
  }

  set(id: string, instance: ViewInstance, index: number): void {
    this.instances.set(id, instance);
    if (index > this.index) this.index = index;
    this.#sorted = undefined;
  }

  delete(id: string, index: number): void {
    this.instances.delete(id);
    if (index > this.index) this.index = index;
    this.#sorted = undefined;
  }

  sorted(): readonly InstanceRecord[] {
    if (this.#sorted === undefined) {
      this.#sorted = [...this.instances.values()]
        .map((i) => i.record)
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    return this.#sorted;
  }
}

/** `instances/<service>/<id>` → `[service, id]`; `[undefined, ""]` for anything else. */
function splitInstanceKey(key: string): [string | undefined, string] {
  const rest = key.slice(storeLayout.instances.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) return [undefined, ""];
  return [rest.slice(0, slash), rest.slice(slash + 1)];
}

function lowerBound(keys: readonly string[], prefix: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < prefix) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
