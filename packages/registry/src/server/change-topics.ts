/** Something waiting for a part of the registry to change: a blocking query or an SSE stream. */
export interface ChangeListener {
  /** Called once per applied batch of store events that touched what the listener watches. */
  onChange(): void;
}

/** Stops a subscription; calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * Who waits for what, so that a change wakes only the listeners it concerns: a change to service
 * `S` wakes the listeners of `S` and of the service list, a change to KV key `k` wakes the
 * listeners of `k` and of every watched prefix of `k`. Nothing else is scanned.
 */
export class ChangeTopics {
  readonly #services = new Map<string, Set<ChangeListener>>();
  readonly #serviceList = new Set<ChangeListener>();
  readonly #kvKeys = new Map<string, Set<ChangeListener>>();
  readonly #kvPrefixes = new Map<string, Set<ChangeListener>>();

  /** Listens to changes of one service's instances. */
  service(name: string, listener: ChangeListener): Unsubscribe {
    return add(this.#services, name, listener);
  }

  /** Listens to changes of any instance (what `GET /v1/services` reports). */
  serviceList(listener: ChangeListener): Unsubscribe {
    this.#serviceList.add(listener);
    return () => {
      this.#serviceList.delete(listener);
    };
  }

  /** Listens to one KV key. */
  kvKey(key: string, listener: ChangeListener): Unsubscribe {
    return add(this.#kvKeys, key, listener);
  }

  /** Listens to every KV key starting with `prefix` (`""`: all). */
  kvPrefix(prefix: string, listener: ChangeListener): Unsubscribe {
    return add(this.#kvPrefixes, prefix, listener);
  }

  /** Listeners now subscribed, for metrics. */
  get size(): number {
    let n = this.#serviceList.size;
    for (const set of this.#services.values()) n += set.size;
    for (const set of this.#kvKeys.values()) n += set.size;
    for (const set of this.#kvPrefixes.values()) n += set.size;
    return n;
  }

  /**
   * Calls every listener concerned by a batch that changed `services` and `kvKeys`, once each;
   * `everything` (after a re-list) calls them all. A listener that throws does not stop the others.
   */
  notify(services: ReadonlySet<string>, kvKeys: ReadonlySet<string>, everything = false): void {
    const due = new Set<ChangeListener>();
    if (everything) {
      for (const set of this.#services.values()) for (const l of set) due.add(l);
      for (const set of this.#kvKeys.values()) for (const l of set) due.add(l);
      for (const set of this.#kvPrefixes.values()) for (const l of set) due.add(l);
      for (const l of this.#serviceList) due.add(l);
    } else {
      if (services.size > 0) {
        for (const l of this.#serviceList) due.add(l);
        for (const name of services) {
          const set = this.#services.get(name);
          if (set !== undefined) for (const l of set) due.add(l);
        }
      }
      if (kvKeys.size > 0) {
        for (const key of kvKeys) {
          const set = this.#kvKeys.get(key);
          if (set !== undefined) for (const l of set) due.add(l);
        }
        for (const [prefix, set] of this.#kvPrefixes) {
          for (const key of kvKeys) {
            if (key.startsWith(prefix)) {
              for (const l of set) due.add(l);
              break;
            }
          }
        }
      }
    }
    for (const listener of due) {
      try {
        listener.onChange();
      } catch {
        // A listener's own failure is its business; the rest must still hear of the change.
      }
    }
  }
}

function add(map: Map<string, Set<ChangeListener>>, topic: string, listener: ChangeListener): Unsubscribe {
  let set = map.get(topic);
  if (set === undefined) {
    set = new Set();
    map.set(topic, set);
  }
  set.add(listener);
  return () => {
    const current = map.get(topic);
    if (current === undefined) return;
    current.delete(listener);
    if (current.size === 0) map.delete(topic);
  };
}
