import type { Logger } from "@flotilla/observability";
import type { StoreEvent, StoreWatch, StoreWatchHandlers } from "./store.js";

interface Watcher {
  readonly prefix: string;
  readonly handlers: StoreWatchHandlers;
  /** The highest index this watcher has been given (or skipped past). */
  last: number;
  closed: boolean;
}

/** Limits of a {@link WatchHub}'s history. */
export interface WatchHubLimits {
  /** Events kept for replay. */
  readonly events: number;
  /** Approximate UTF-16 code units of keys and values kept for replay. */
  readonly chars: number;
}

/**
 * The watches of an embedded store and the bounded history of recent events that serves their
 * replays. Every watcher is fed from the history, live ones included, so replay and live delivery
 * are one path: a watcher remembers the last index it was given and each delivery hands it the
 * history after that index, filtered by its prefix, which makes duplicates and gaps impossible.
 * Deliveries run in a microtask after the write that caused them, never inside it. A watcher
 * that falls behind the history (it asked for an index older than the oldest kept event) gets
 * `onReset` with the current index and continues live from there.
 */
export class WatchHub {
  readonly #limits: WatchHubLimits;
  readonly #logger: Logger | undefined;
  readonly #watchers = new Set<Watcher>();
  /** A ring of events in index order: `#ring[(#start + n) % capacity]` is the n-th oldest. */
  readonly #ring: (StoreEvent | undefined)[];
  readonly #sizes: number[];
  #start = 0;
  #length = 0;
  #chars = 0;
  /** Every event with an index above this is in the history. */
  #floor: number;
  /** The index of the newest event, or the index the hub started at. */
  #head: number;
  #scheduled = false;

  constructor(index: number, limits: WatchHubLimits, logger?: Logger) {
    this.#limits = limits;
    this.#logger = logger;
    this.#ring = new Array<StoreEvent | undefined>(limits.events);
    this.#sizes = new Array<number>(limits.events).fill(0);
    this.#floor = index;
    this.#head = index;
  }

  /** Open watches. */
  get watchers(): number {
    return this.#watchers.size;
  }

  /** Records events (in index order, after every event already published) and schedules delivery. */
  publish(events: readonly StoreEvent[]): void {
    if (events.length === 0) return;
    const capacity = this.#ring.length;
    for (const event of events) {
      const size = eventChars(event);
      while (this.#length > 0 && (this.#length === capacity || this.#chars + size > this.#limits.chars)) {
        this.#evictOldest();
      }
      const at = (this.#start + this.#length) % capacity;
      this.#ring[at] = event;
      this.#sizes[at] = size;
      this.#length++;
      this.#chars += size;
      this.#head = event.index;
    }
    this.#schedule();
  }

  /** Starts a watch of the keys under `prefix` after `afterIndex`; see {@link WatchHub}. */
  watch(prefix: string, afterIndex: number, handlers: StoreWatchHandlers): StoreWatch {
    const watcher: Watcher = { prefix, handlers, last: afterIndex, closed: false };
    this.#watchers.add(watcher);
    this.#schedule();
    return {
      close: () => {
        watcher.closed = true;
        this.#watchers.delete(watcher);
      },
    };
  }

  /** Closes every watch. */
  close(): void {
    for (const watcher of this.#watchers) watcher.closed = true;
    this.#watchers.clear();
  }

  #evictOldest(): void {
    const at = this.#start;
    this.#floor = this.#ring[at]!.index;
    this.#chars -= this.#sizes[at]!;
    this.#ring[at] = undefined;
    this.#start = (at + 1) % this.#ring.length;
    this.#length--;
  }

  #schedule(): void {
    if (this.#scheduled || this.#watchers.size === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#deliver());
  }

  #deliver(): void {
    this.#scheduled = false;
    for (const watcher of this.#watchers) {
      if (watcher.closed || watcher.last >= this.#head) continue;
      if (watcher.last < this.#floor) {
        watcher.last = this.#head;
        this.#call(watcher, () => watcher.handlers.onReset?.(this.#head));
        continue;
      }
      const batch: StoreEvent[] = [];
      const capacity = this.#ring.length;
      for (let n = this.#firstAfter(watcher.last); n < this.#length; n++) {
        const event = this.#ring[(this.#start + n) % capacity]!;
        if (event.key.startsWith(watcher.prefix)) batch.push(event);
      }
      watcher.last = this.#head;
      if (batch.length > 0) this.#call(watcher, () => watcher.handlers.onEvents(batch));
    }
  }

  /** The position in the history of the first event with an index above `index`. */
  #firstAfter(index: number): number {
    const capacity = this.#ring.length;
    let lo = 0;
    let hi = this.#length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ring[(this.#start + mid) % capacity]!.index <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #call(watcher: Watcher, run: () => void): void {
    if (watcher.closed) return;
    try {
      run();
    } catch (error) {
      this.#logger?.error({ err: error, prefix: watcher.prefix }, "a store watch handler threw");
    }
  }
}

function eventChars(event: StoreEvent): number {
  return 64 + event.key.length + (event.entry?.value.length ?? 0) + (event.previous?.value.length ?? 0);
}
