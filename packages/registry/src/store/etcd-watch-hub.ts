import type { Logger } from "@flotilla/observability";
import type { Clock, TimerHandle } from "@flotilla/resilience";
import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse, WatchClient } from "etcd3";
import type { EtcdKeySpace } from "./etcd-key-space.js";
import { etcdStoreError } from "./etcd-store-error.js";
import type { StoreEvent, StoreWatch, StoreWatchHandlers } from "./store.js";

/** What an {@link EtcdWatchHub} needs. */
export interface EtcdWatchHubOptions {
  readonly watchClient: WatchClient;
  readonly keys: EtcdKeySpace;
  /** etcd's current revision, for the index of `onReset`. */
  readonly currentRevision: () => Promise<number>;
  readonly clock: Clock;
  readonly logger?: Logger | undefined;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

interface ActiveWatch {
  /** etcd watch id on the current stream; a fresh one for every (re)creation. */
  id: number;
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  readonly handlers: StoreWatchHandlers;
  /** The highest revision delivered (initially the caller's `afterIndex`): the resume point. */
  lastDelivered: number;
  /** `onError` was called for the current outage; cleared when etcd confirms the watch again. */
  failing: boolean;
  /** The stream the watch was last created on, while etcd has not cancelled it there. */
  on: WatchStream | undefined;
  retryTimer: TimerHandle | undefined;
  closed: boolean;
}

const minBackoffMs = 100;
const maxBackoffMs = 5_000;

/**
 * Every watch of an etcd store, multiplexed on one gRPC watch stream. Instead of etcd3's
 * `Watcher`, which resumes from the revision etcd reported at creation (skipping a replay cut
 * short by a disconnect) and turns compaction into an unlabelled error, each watch here tracks
 * the last revision it delivered, is re-created from the next one after any reconnect and drops
 * anything at or below it, so no event arrives twice or goes missing. etcd sends all events of
 * one revision in one response, so that resume point never splits a revision.
 */
export class EtcdWatchHub {
  readonly #options: EtcdWatchHubOptions;
  readonly #watches = new Map<number, ActiveWatch>();
  #stream: WatchStream | undefined;
  #connecting = false;
  #reconnectTimer: TimerHandle | undefined;
  #failures = 0;
  #nextId = 1;
  #closed = false;

  constructor(options: EtcdWatchHubOptions) {
    this.#options = options;
  }

  /** Starts a watch of store keys under `prefix` from revision `afterIndex + 1`. */
  watch(prefix: string, afterIndex: number, handlers: StoreWatchHandlers): StoreWatch {
    const range = this.#options.keys.range(prefix);
    const watch: ActiveWatch = {
      id: this.#nextId++,
      key: range.key,
      rangeEnd: range.range_end,
      handlers,
      lastDelivered: afterIndex,
      failing: false,
      on: undefined,
      retryTimer: undefined,
      closed: false,
    };
    this.#watches.set(watch.id, watch);
    if (this.#stream) this.#create(this.#stream, watch);
    else this.#connect();
    return { close: () => this.#cancel(watch) };
  }

  /** Ends every watch without further callbacks and drops the stream. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const watch of this.#watches.values()) this.#forget(watch);
    this.#watches.clear();
    if (this.#reconnectTimer !== undefined) this.#options.clock.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#drop();
  }

  #connect(): void {
    if (this.#closed || this.#connecting || this.#reconnectTimer !== undefined || this.#watches.size === 0)
      return;
    this.#connecting = true;
    this.#options.watchClient.watch().then(
      (stream) => {
        this.#connecting = false;
        if (this.#closed || this.#watches.size === 0) {
          quietlyEnd(stream);
          return;
        }
        this.#stream = stream;
        stream.on("data", (response) => {
          if (stream === this.#stream) this.#onResponse(response);
        });
        stream.on("error", (error) => {
          if (stream === this.#stream) this.#broken(error);
        });
        stream.on("end", () => {
          if (stream === this.#stream) this.#broken(new Error("etcd ended the watch stream"));
        });
        for (const watch of [...this.#watches.values()]) this.#create(stream, watch);
      },
      (error: unknown) => {
        this.#connecting = false;
        this.#broken(error);
      },
    );
  }

  #create(stream: WatchStream, watch: ActiveWatch): void {
    watch.on = stream;
    stream.write({
      create_request: {
        key: watch.key,
        range_end: watch.rangeEnd,
        start_revision: watch.lastDelivered + 1,
        prev_kv: true,
        watch_id: watch.id,
      },
    });
  }

  /** Marks a watch that etcd cancelled, under a fresh id: etcd may keep the old one reserved on its stream. */
  #cancelledByEtcd(watch: ActiveWatch): void {
    watch.on = undefined;
    this.#watches.delete(watch.id);
    watch.id = this.#nextId++;
    this.#watches.set(watch.id, watch);
  }

  #onResponse(response: IWatchResponse): void {
    const watch = this.#watches.get(Number(response.watch_id));
    if (watch === undefined) return;
    if (response.canceled) {
      this.#onCanceled(watch, response);
      return;
    }
    if (response.created) {
      this.#failures = 0;
      watch.failing = false;
      return;
    }
    const events: StoreEvent[] = [];
    let last = watch.lastDelivered;
    for (const event of response.events) {
      const index = Number(event.kv.mod_revision);
      if (index <= watch.lastDelivered) continue;
      events.push(this.#event(event, index));
      if (index > last) last = index;
    }
    if (events.length === 0) return;
    watch.lastDelivered = last;
    this.#call(watch, "onEvents", () => watch.handlers.onEvents(events));
  }

  #onCanceled(watch: ActiveWatch, response: IWatchResponse): void {
    this.#cancelledByEtcd(watch);
    const compacted = Number(response.compact_revision);
    if (compacted > 0) {
      this.#reset(watch);
      return;
    }
    const reason = response.cancel_reason || "no reason given";
    this.#fail(watch, new Error(`etcd cancelled the watch: ${reason}`));
    this.#retryLater(watch);
  }

  /**
   * The replay needs revisions etcd has compacted away: like the embedded store, report the
   * current index (the caller re-lists) and continue live after it.
   */
  #reset(watch: ActiveWatch): void {
    this.#options.currentRevision().then(
      (current) => {
        if (watch.closed) return;
        watch.lastDelivered = Math.max(watch.lastDelivered, current);
        this.#call(watch, "onReset", () => watch.handlers.onReset?.(current));
        // A reconnect in the meantime has created it again already.
        if (!watch.closed && watch.on === undefined && this.#stream !== undefined) {
          this.#create(this.#stream, watch);
        }
      },
      (error: unknown) => {
        this.#fail(watch, error);
        this.#retryLater(watch);
      },
    );
  }

  #retryLater(watch: ActiveWatch): void {
    if (watch.closed || watch.retryTimer !== undefined) return;
    watch.retryTimer = this.#options.clock.setTimeout(() => {
      watch.retryTimer = undefined;
      if (!watch.closed && watch.on === undefined && this.#stream !== undefined) {
        this.#create(this.#stream, watch);
      }
    }, this.#backoff());
  }

  #event(event: IEvent, index: number): StoreEvent {
    const keys = this.#options.keys;
    const key = keys.strip(event.kv.key);
    const previous = event.prev_kv ? keys.entry(event.prev_kv) : undefined;
    // proto-loader gives enum names as in the .proto ("PUT", "DELETE"), not etcd3's typings.
    if (String(event.type).toUpperCase() === "DELETE") {
      return previous ? { type: "delete", key, index, previous } : { type: "delete", key, index };
    }
    const entry = keys.entry(event.kv);
    return previous ? { type: "put", key, index, entry, previous } : { type: "put", key, index, entry };
  }

  #broken(error: unknown): void {
    this.#drop();
    if (this.#closed) return;
    for (const watch of this.#watches.values()) watch.on = undefined;
    for (const watch of this.#watches.values()) this.#fail(watch, error);
    const delay = this.#backoff();
    this.#options.logger?.warn(
      { err: error, retryInMs: delay, watches: this.#watches.size },
      "etcd watch stream failed; reconnecting",
    );
    this.#reconnectTimer = this.#options.clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect();
    }, delay);
  }

  /** Reports a failure once per outage of a watch. */
  #fail(watch: ActiveWatch, error: unknown): void {
    if (watch.failing) return;
    watch.failing = true;
    const storeError = etcdStoreError("watch", error);
    this.#call(watch, "onError", () => watch.handlers.onError?.(storeError));
  }

  #backoff(): number {
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.#failures);
    this.#failures++;
    return delay;
  }

  #cancel(watch: ActiveWatch): void {
    if (watch.closed) return;
    this.#forget(watch);
    this.#watches.delete(watch.id);
    if (this.#watches.size === 0) {
      this.#drop();
      if (this.#reconnectTimer !== undefined) this.#options.clock.clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    } else if (this.#stream !== undefined && watch.on === this.#stream) {
      this.#stream.write({ cancel_request: { watch_id: watch.id } });
    }
  }

  #forget(watch: ActiveWatch): void {
    watch.closed = true;
    if (watch.retryTimer !== undefined) this.#options.clock.clearTimeout(watch.retryTimer);
    watch.retryTimer = undefined;
  }

  #drop(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream) quietlyEnd(stream);
  }

  #call(watch: ActiveWatch, handler: string, fn: () => void): void {
    if (watch.closed) return;
    try {
      fn();
    } catch (error) {
      this.#options.logger?.error({ err: error }, `store watch ${handler} handler threw`);
    }
  }
}

/**
 * Ends a stream without etcd3 counting it as a failed host: its error hook only reports
 * streams that are still writable, so the request side is closed before the cancel.
 */
function quietlyEnd(stream: WatchStream): void {
  stream.on("error", () => {});
  stream.end();
  stream.cancel();
}
