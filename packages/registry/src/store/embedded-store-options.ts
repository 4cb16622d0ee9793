import type { Logger } from "@flotilla/observability";
import type { Clock, ConfigReader, Duration } from "@flotilla/resilience";

/**
 * When an embedded store's log writes reach the disk:
 * - `always`: every write is written and `fdatasync`ed on its own before it resolves;
 * - `batch`: group commit — the writes of one event-loop turn (and those that arrive while a batch
 *   is being synced) are written together and resolve after one `fdatasync`;
 * - `never`: written without `fdatasync`; the operating system flushes them when it will, so a
 *   power loss (not a process crash) can lose the last writes.
 */
export type StoreSyncMode = "always" | "batch" | "never";

/**
 * Decides whether a sweep may expire `lapsed` (the ids of leases past their deadline), given the
 * number of leases that are still live besides them. Returning `false` keeps every one of them for
 * another TTL: the registry's self-preservation refuses to expire a large share of all leases at
 * once, which is more likely a network partition than that many dead instances.
 */
export type ExpiryGuard = (lapsed: readonly string[], liveLeases: number) => boolean;

/** Options of {@link embeddedStore}. */
export interface EmbeddedStoreOptions {
  /**
   * Directory of the durable log (`store.log`) and snapshot (`snapshot.json`); created when
   * missing. Without it the store lives in memory only and forgets everything on close.
   */
  readonly dataDir?: string | undefined;
  /** When log writes reach the disk; see {@link StoreSyncMode}. Default `"batch"`. */
  readonly sync?: StoreSyncMode | undefined;
  /** Write a snapshot and empty the log once it holds more records than this. Default 10,000. */
  readonly snapshotEvery?: number | undefined;
  /** Also snapshot once the log is larger than this many bytes (large values). Default 64 MiB. */
  readonly snapshotBytes?: number | undefined;
  /** Writes kept in memory to replay to watches that resume from an older index. Default 10,000. */
  readonly historySize?: number | undefined;
  /**
   * Bound on the characters (keys and values) that history keeps, so large values cannot hold
   * much memory; the oldest events go first. Default 64 Mi (about 128 MiB).
   */
  readonly historyChars?: number | undefined;
  /** How often lapsed leases are looked for and expired. Default `"250ms"`. */
  readonly sweepInterval?: Duration | undefined;
  /** Consulted before each sweep expires leases; see {@link ExpiryGuard}. Default: always expire. */
  readonly expiryGuard?: ExpiryGuard | undefined;
  /** Time source for lease deadlines and the sweep timer. Default the system clock. */
  readonly clock?: Clock | undefined;
  /** Where the store reports dropped torn writes, failed snapshots and throwing watch handlers. */
  readonly logger?: Logger | undefined;
}

/** {@link EmbeddedStoreOptions} after validation, durations in milliseconds. */
export interface ResolvedEmbeddedStoreOptions {
  readonly dataDir: string | undefined;
  readonly sync: StoreSyncMode;
  readonly snapshotEvery: number;
  readonly snapshotBytes: number;
  readonly historySize: number;
  readonly historyChars: number;
  readonly sweepInterval: number;
  readonly expiryGuard: ExpiryGuard | undefined;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
}

/** The defaults of {@link EmbeddedStoreOptions}. */
export const embeddedStoreDefaults = {
  sync: "batch",
  snapshotEvery: 10_000,
  snapshotBytes: 64 * 1024 * 1024,
  historySize: 10_000,
  historyChars: 64 * 1024 * 1024,
  sweepInterval: 250,
} as const;

const knownKeys = [
  "dataDir",
  "sync",
  "snapshotEvery",
  "snapshotBytes",
  "historySize",
  "historyChars",
  "sweepInterval",
  "expiryGuard",
  "clock",
  "logger",
] as const;

/**
 * Validates embedded-store options from code or plain configuration, recording every problem with
 * its path under `path` (e.g. `store.sweepInterval`).
 */
export function parseEmbeddedStoreOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedEmbeddedStoreOptions {
  const d = embeddedStoreDefaults;
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, knownKeys, path);
  const positive = { integer: true, min: 1 };
  const logger = obj.logger;
  if (logger !== undefined && (typeof logger !== "object" || logger === null || !hasLogMethods(logger)))
    reader.issue(at(path, "logger"), "expected a pino Logger with warn() and error()");
  return {
    dataDir: obj.dataDir === undefined ? undefined : reader.string(obj, "dataDir", path, ""),
    sync: reader.oneOf(obj, "sync", path, ["always", "batch", "never"], d.sync),
    snapshotEvery: reader.number(obj, "snapshotEvery", path, d.snapshotEvery, positive),
    snapshotBytes: reader.number(obj, "snapshotBytes", path, d.snapshotBytes, positive),
    historySize: reader.number(obj, "historySize", path, d.historySize, positive),
    historyChars: reader.number(obj, "historyChars", path, d.historyChars, positive),
    sweepInterval: reader.duration(obj, "sweepInterval", path, d.sweepInterval, { above: 0 }),
    expiryGuard: reader.fn<ExpiryGuard>(obj, "expiryGuard", path),
    clock: reader.clock(obj, "clock", path),
    logger: logger as Logger | undefined,
  };
}

function hasLogMethods(value: object): boolean {
  const v = value as Record<string, unknown>;
  return typeof v.warn === "function" && typeof v.error === "function";
}

function at(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
