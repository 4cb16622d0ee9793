import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@flotilla/observability";
import { type Clock, ConfigReader, type TimerHandle } from "@flotilla/resilience";
import {
  isRegistryError,
  RegistryError,
  RegistryErrorCode,
  RegistryInvalidRequestError,
  type RequestIssue,
} from "../registry-error.js";
import { DataDirLock } from "./data-dir-lock.js";
import {
  type EmbeddedStoreOptions,
  parseEmbeddedStoreOptions,
  type ResolvedEmbeddedStoreOptions,
} from "./embedded-store-options.js";
import { RegistryDataCorruptError } from "./registry-data-corrupt-error.js";
import { readSnapshotFile, snapshotFileName, writeSnapshotFile } from "./snapshot-file.js";
import type {
  DeleteOptions,
  LeaseGrant,
  PutOptions,
  Store,
  StoreEntry,
  StoreEvent,
  StoreSnapshot,
  StoreWatch,
  StoreWatchHandlers,
  WriteResult,
} from "./store.js";
import { StoreBatch, type StoreOp, type StoreOpResult } from "./store-batch.js";
import { StoreLog } from "./store-log.js";
import type { StoreRecord } from "./store-record.js";
import { StoreState } from "./store-state.js";
import { WatchHub } from "./watch-hub.js";

/** The most writes one group commit takes, so that one batch's write stays a few MiB at most. */
const maxBatch = 4096;

/** Counters of an {@link EmbeddedStore}, for metrics and tests. */
export interface EmbeddedStoreStats {
  /** Keys stored. */
  readonly keys: number;
  /** Live leases. */
  readonly leases: number;
  /** The highest index assigned. */
  readonly index: number;
  /** Open watches. */
  readonly watchers: number;
  /** Records in `store.log` now (0 for a store in memory). */
  readonly logRecords: number;
  /** Bytes in `store.log` now. */
  readonly logBytes: number;
  /** Batches written to the log since the store opened; each cost one `fdatasync` unless `sync: "never"`. */
  readonly logWrites: number;
  /** Snapshots written since the store opened. */
  readonly snapshots: number;
  /** Writes waiting for the batch being written. */
  readonly queued: number;
}

interface PendingWrite {
  readonly op: StoreOp;
  readonly resolve: (result: StoreOpResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Opens an {@link EmbeddedStore}: in memory, or durable in `options.dataDir`, loading the snapshot
 * and replaying the log found there. Rejects with a `ConfigError` for bad options (naming each
 * path) and with {@link RegistryDataCorruptError} for a damaged data directory.
 */
export function embeddedStore(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
  return EmbeddedStore.open(options);
}

/**
 * The registry's default {@link Store}: everything in memory — entries in a hash map for O(1)
 * reads, their keys in a sorted structure for prefix listings, a lease table, and a bounded history
 * of recent events for watch replay — made durable, when given a data directory, by an
 * append-only log of JSON lines (`store.log`) compacted into `snapshot.json`.
 *
 * Writes are checked and given their indexes in order, written to the log, and only then applied
 * and announced to watches (after a microtask, never inside the write): the state never shows a
 * write the disk refused, which rejects with `FLT_REGISTRY_STORE_UNAVAILABLE`. With `sync: "batch"`
 * the writes that arrive in one event-loop turn, or while the previous batch is syncing, share one
 * write and one `fdatasync` (group commit).
 *
 * Lease renewals only move a deadline in memory — no disk, O(1) — and a sweep timer expires lapsed
 * leases, asking `expiryGuard` first. After a restart every lease gets its full TTL again (a grace
 * period, as in Consul) and indexes continue where they were.
 */
export class EmbeddedStore implements Store {
  /** `"embedded"`. */
  readonly kind = "embedded";
  /** The validated options, durations in milliseconds. */
  readonly options: ResolvedEmbeddedStoreOptions;
  readonly #state: StoreState;
  readonly #hub: WatchHub;
  readonly #log: StoreLog | undefined;
  readonly #lock: DataDirLock | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  #queue: PendingWrite[] = [];
  /** The running group-commit loop, while there is one. */
  #pump: Promise<void> | undefined;
  #sweepTimer: TimerHandle | undefined;
  #closing: Promise<void> | undefined;
  #snapshotAfter: number;
  #snapshotAfterBytes: number;
  #logWrites = 0;
  /** Set when memory and log may disagree; every later write fails with it. */
  #failure: RegistryError | undefined;
  #snapshots = 0;

  private constructor(
    options: ResolvedEmbeddedStoreOptions,
    state: StoreState,
    hub: WatchHub,
    disk: { readonly log: StoreLog; readonly lock: DataDirLock } | undefined,
  ) {
    this.options = options;
    this.#state = state;
    this.#hub = hub;
    this.#log = disk?.log;
    this.#lock = disk?.lock;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#snapshotAfter = options.snapshotEvery;
    this.#snapshotAfterBytes = options.snapshotBytes;
    this.#armSweep();
  }

  /** See {@link embeddedStore}. */
  static async open(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const reader = new ConfigReader();
    const resolved = parseEmbeddedStoreOptions(options, reader, "");
    reader.throwIfInvalid();
    const limits = { events: resolved.historySize, chars: resolved.historyChars };
    const dir = resolved.dataDir;
    if (dir === undefined) {
      const state = new StoreState();
      return new EmbeddedStore(resolved, state, new WatchHub(0, limits, resolved.logger), undefined);
    }
    let lock: DataDirLock | undefined;
    try {
      await mkdir(dir, { recursive: true });
      lock = await DataDirLock.acquire(dir);
      await rm(join(dir, `${snapshotFileName}.tmp`), { force: true });
      const snapshot = await readSnapshotFile(dir);
      const now = resolved.clock.now();
      let state: StoreState;
      try {
        state = snapshot === undefined ? new StoreState() : StoreState.fromSnapshot(snapshot, now);
      } catch (error) {
        throw new RegistryDataCorruptError(join(dir, snapshotFileName), undefined, (error as Error).message, {
          cause: error,
        });
      }
      const hub = new WatchHub(state.index, limits, resolved.logger);
      const snapshotSeq = state.seq;
      const replay = (record: StoreRecord): void => {
        // Records the snapshot already holds: a crash came between writing it and emptying the log.
        if (record.s <= snapshotSeq) return;
        hub.publish(state.apply(record, now));
      };
      const log = await StoreLog.open(dir, replay, resolved.logger);
      return new EmbeddedStore(resolved, state, hub, { log, lock });
    } catch (error) {
      await lock?.release().catch(() => undefined);
      if (isRegistryError(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new RegistryError(
        RegistryErrorCode.StoreUnavailable,
        `could not open the data directory ${dir}: ${reason}`,
        {
          cause: error,
        },
      );
    }
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.#throwIfClosed();
    return this.#state.entries.get(key);
  }

  async list(prefix: string): Promise<StoreSnapshot> {
    this.#throwIfClosed();
    const state = this.#state;
    const entries = state.keys.withPrefix(prefix).map((key) => state.entries.get(key)!);
    return { entries, index: state.index };
  }

  put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    const issues = [...checkKey(key), ...checkCas(options.cas)];
    if (typeof value !== "string") issues.push({ path: "value", message: "must be a string" });
    if (options.lease !== undefined && (typeof options.lease !== "string" || options.lease === ""))
      issues.push({ path: "lease", message: "must be a lease id" });
    if (issues.length > 0) return Promise.reject(new RegistryInvalidRequestError(issues));
    return this.#write({
      op: "put",
      key,
      value,
      cas: options.cas,
      lease: options.lease,
    }) as Promise<WriteResult>;
  }

  delete(key: string, options: DeleteOptions = {}): Promise<WriteResult> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    const issues = [...checkKey(key), ...checkCas(options.cas)];
    if (issues.length > 0) return Promise.reject(new RegistryInvalidRequestError(issues));
    return this.#write({ op: "delete", key, cas: options.cas }) as Promise<WriteResult>;
  }

  async grantLease(ttlMs: number): Promise<LeaseGrant> {
    this.#throwIfClosed();
    if (typeof ttlMs !== "number" || !Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new RegistryInvalidRequestError([{ path: "ttlMs", message: "must be a positive number" }]);
    const id = randomBytes(16).toString("base64url");
    await this.#write({ op: "grant", id, ttlMs });
    return { id, ttlMs };
  }

  async keepAlive(leaseId: string): Promise<boolean> {
    this.#throwIfClosed();
    return this.#state.leases.renew(leaseId, this.#clock.now());
  }

  revokeLease(leaseId: string): Promise<boolean> {
    return this.#write({ op: "revoke", id: leaseId }) as Promise<boolean>;
  }

  watch(prefix: string, afterIndex: number, handlers: StoreWatchHandlers): StoreWatch {
    this.#throwIfClosed();
    if (typeof afterIndex !== "number" || !(afterIndex >= 0))
      throw new RegistryInvalidRequestError([{ path: "afterIndex", message: "must be a number, 0 or more" }]);
    return this.#hub.watch(prefix, afterIndex, handlers);
  }

  async currentIndex(): Promise<number> {
    this.#throwIfClosed();
    return this.#state.index;
  }

  /** Counters for metrics; cheap. */
  stats(): EmbeddedStoreStats {
    return {
      keys: this.#state.entries.size,
      leases: this.#state.leases.size,
      index: this.#state.index,
      watchers: this.#hub.watchers,
      logRecords: this.#log?.records ?? 0,
      logBytes: this.#log?.bytes ?? 0,
      logWrites: this.#logWrites,
      snapshots: this.#snapshots,
      queued: this.#queue.length,
    };
  }

  /**
   * Stops the sweep and every watch, lets the writes already asked for finish, and closes the log.
   * Every call after it rejects with `FLT_REGISTRY_STORE_CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#hub.close();
    this.#closing = (async () => {
      while (this.#pump !== undefined) await this.#pump;
      try {
        await this.#log?.close();
      } finally {
        await this.#lock?.release();
      }
    })();
    return this.#closing;
  }

  #throwIfClosed(): void {
    if (this.#closing !== undefined) throw closedError();
  }

  #write(op: StoreOp): Promise<StoreOpResult> {
    try {
      this.#throwIfClosed();
      const log = this.#log;
      if (log === undefined) {
        const batch = new StoreBatch(this.#state);
        const result = batch.add(op);
        this.#apply(batch.records);
        return Promise.resolve(result);
      }
      if (this.#failure !== undefined) throw this.#failure;
      if (log.broken !== undefined) throw unavailable(log.file, log.broken);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      this.#startPump();
    });
  }

  #startPump(): void {
    if (this.#pump !== undefined) return;
    // setImmediate, not a microtask: every write of this event-loop turn joins the first batch.
    this.#pump = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#drain())
      .finally(() => {
        this.#pump = undefined;
        if (this.#queue.length > 0) this.#startPump();
      });
  }

  async #drain(): Promise<void> {
    const log = this.#log!;
    while (this.#queue.length > 0) {
      const pending = this.#queue.splice(0, this.options.sync === "always" ? 1 : maxBatch);
      await this.#commit(log, pending);
      const due = log.records > this.#snapshotAfter || log.bytes > this.#snapshotAfterBytes;
      if (due && log.broken === undefined) await this.#snapshot(log);
    }
  }

  async #commit(log: StoreLog, pending: readonly PendingWrite[]): Promise<void> {
    const batch = new StoreBatch(this.#state);
    const outcomes = pending.map((write): { result?: StoreOpResult; error?: unknown } => {
      try {
        return { result: batch.add(write.op) };
      } catch (error) {
        return { error };
      }
    });
    const records = batch.records;
    if (records.length > 0) {
      let lines = "";
      for (const record of records) lines += `${JSON.stringify(record)}\n`;
      try {
        await log.append(lines, records.length, this.options.sync !== "never");
        this.#logWrites++;
      } catch (error) {
        const failure = unavailable(log.file, error);
        this.#logger?.error({ err: error, file: log.file }, "could not write to the store log");
        for (const write of pending) write.reject(failure);
        return;
      }
      try {
        this.#apply(records);
      } catch (error) {
        // The log holds what memory refused: only a bug gets here, and no write may follow it.
        this.#failure = unavailable(log.file, error);
        this.#logger?.error({ err: error, file: log.file }, "the store state refused a logged write");
        for (const write of pending) write.reject(this.#failure);
        return;
      }
    }
    for (const [n, write] of pending.entries()) {
      const outcome = outcomes[n]!;
      if ("error" in outcome) write.reject(outcome.error);
      else write.resolve(outcome.result);
    }
  }

  #apply(records: readonly StoreRecord[]): void {
    const now = this.#clock.now();
    const events: StoreEvent[] = [];
    for (const record of records) {
      for (const event of this.#state.apply(record, now)) events.push(event);
    }
    this.#hub.publish(events);
  }

  async #snapshot(log: StoreLog): Promise<void> {
    try {
      await writeSnapshotFile(this.options.dataDir!, this.#state.snapshot());
      await log.reset();
      this.#snapshots++;
      this.#snapshotAfter = this.options.snapshotEvery;
      this.#snapshotAfterBytes = this.options.snapshotBytes;
    } catch (error) {
      this.#snapshotAfter = log.records + this.options.snapshotEvery;
      this.#snapshotAfterBytes = log.bytes + this.options.snapshotBytes;
      this.#logger?.error(
        { err: error, file: log.file },
        "could not write a store snapshot; will retry later",
      );
    }
  }

  #armSweep(): void {
    if (this.#closing !== undefined) return;
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), this.options.sweepInterval, true);
  }

  #sweep(): void {
    this.#sweepTimer = undefined;
    if (this.#closing !== undefined) return;
    const now = this.#clock.now();
    const lapsed = this.#state.leases.lapsed(now);
    if (lapsed.length > 0) {
      const ids = lapsed.map((lease) => lease.id);
      if (this.#mayExpire(ids)) {
        for (const lease of lapsed) lease.ending = true;
        this.#write({ op: "expire", ids }).catch((error: unknown) => {
          for (const lease of lapsed) lease.ending = false;
          this.#logger?.error(
            { err: error, leases: ids.length },
            "could not expire lapsed leases; will retry",
          );
        });
      } else {
        for (const lease of lapsed) lease.deadline = now + lease.ttlMs;
      }
    }
    this.#armSweep();
  }

  #mayExpire(ids: readonly string[]): boolean {
    const guard = this.options.expiryGuard;
    if (guard === undefined) return true;
    try {
      return guard(ids, this.#state.leases.size - ids.length);
    } catch (error) {
      this.#logger?.error({ err: error }, "the store's expiryGuard threw; expiring the lapsed leases");
      return true;
    }
  }
}

function closedError(): RegistryError {
  return new RegistryError(RegistryErrorCode.StoreClosed, "the embedded store is closed");
}

function unavailable(file: string, cause: unknown): RegistryError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new RegistryError(RegistryErrorCode.StoreUnavailable, `could not write to ${file}: ${reason}`, {
    cause,
  });
}

function checkKey(key: unknown): RequestIssue[] {
  return typeof key === "string" && key.length > 0
    ? []
    : [{ path: "key", message: "must be a non-empty string" }];
}

function checkCas(cas: unknown): RequestIssue[] {
  return cas === undefined || (typeof cas === "number" && Number.isSafeInteger(cas) && cas >= 0)
    ? []
    : [{ path: "cas", message: "must be a whole number, 0 for create-only" }];
}
