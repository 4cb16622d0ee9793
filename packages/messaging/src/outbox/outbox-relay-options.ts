import {
  type Backoff,
  type Clock,
  ConfigReader,
  type Duration,
  fullJitterBackoff,
} from "@flotilla/resilience";
import type pg from "pg";
import type { Registry } from "prom-client";
import { type MessagingLogger, readLogger } from "../messaging-logger.js";
import type { Transport } from "../transport/transport.js";
import { Outbox } from "./outbox.js";

/** Options of {@link outboxRelay}. */
export interface OutboxRelayOptions {
  /**
   * The service's pool. The leader keeps one of its connections for the lease (and `LISTEN`), so
   * size the pool one larger; marking, statistics and clean-up borrow another briefly.
   */
  readonly pool: pg.Pool;
  readonly outbox: Outbox;
  /** Where the messages go. The relay does not close it. */
  readonly transport: Transport;
  /** Rows read and published per batch. Default 256. */
  readonly batchSize?: number;
  /** Longest wait for new rows when no `NOTIFY` arrives; also how often the backlog metrics refresh. Default `"1s"`. */
  readonly pollInterval?: Duration;
  /**
   * While busy (the last read found rows, producers send no NOTIFY), the wait before reading
   * again after a batch that was not full: rows gathered meanwhile go out together. Default `"5ms"`.
   */
  readonly busyPollInterval?: Duration;
  /** How often a relay without the lease tries to take it. Default `"5s"`. */
  readonly leaseRetryInterval?: Duration;
  /** How long sent rows are kept before they are deleted. Default `"24h"`. */
  readonly retention?: Duration;
  /** How often the leader deletes sent rows older than `retention`. Default `"5m"`. */
  readonly cleanupInterval?: Duration;
  /** The wait after the n-th consecutive failed publish. Default: full jitter from 100 ms, capped at 10 s. */
  readonly backoff?: Backoff;
  /** Where the `flotilla_outbox_*` metrics are registered (e.g. `Metrics.registry`). Default: none. */
  readonly registry?: Registry;
  /** A pino-compatible logger. Default: silent. */
  readonly logger?: MessagingLogger;
  /** Times the waits. Default `systemClock`. */
  readonly clock?: Clock;
}

/** {@link OutboxRelayOptions} validated, durations in milliseconds. */
export interface ResolvedOutboxRelayOptions {
  readonly pool: pg.Pool;
  readonly outbox: Outbox;
  readonly transport: Transport;
  readonly batchSize: number;
  readonly pollInterval: number;
  readonly busyPollInterval: number;
  readonly leaseRetryInterval: number;
  readonly retention: number;
  readonly cleanupInterval: number;
  readonly backoff: Backoff;
  readonly registry: Registry | undefined;
  readonly logger: MessagingLogger;
  readonly clock: Clock;
}

const known = [
  "pool",
  "outbox",
  "transport",
  "batchSize",
  "pollInterval",
  "busyPollInterval",
  "leaseRetryInterval",
  "retention",
  "cleanupInterval",
  "backoff",
  "registry",
  "logger",
  "clock",
];

/** Reads {@link OutboxRelayOptions}; throws a `ConfigError` naming each bad option (`outboxRelay.batchSize`, …). */
export function parseOutboxRelayOptions(options: OutboxRelayOptions): ResolvedOutboxRelayOptions {
  const path = "outboxRelay";
  const reader = new ConfigReader();
  const raw = reader.object(options, path);
  reader.knownKeys(raw, known, path);
  const pool = raw.pool as pg.Pool | undefined;
  if (typeof pool?.connect !== "function" || typeof pool.query !== "function") {
    reader.issue(`${path}.pool`, "required: a pg Pool");
  }
  if (!(raw.outbox instanceof Outbox)) reader.issue(`${path}.outbox`, "required: an Outbox made by outbox()");
  const transport = raw.transport as Transport | undefined;
  if (typeof transport?.publish !== "function") reader.issue(`${path}.transport`, "required: a Transport");
  const registry = raw.registry as Registry | undefined;
  if (registry !== undefined && typeof registry?.getSingleMetric !== "function") {
    reader.issue(`${path}.registry`, "expected a prom-client Registry");
  }
  const resolved: ResolvedOutboxRelayOptions = {
    pool: pool as pg.Pool,
    outbox: raw.outbox as Outbox,
    transport: transport as Transport,
    batchSize: reader.number(raw, "batchSize", path, 256, { min: 1, max: 10_000, integer: true }),
    pollInterval: reader.duration(raw, "pollInterval", path, 1_000, { min: 1 }),
    busyPollInterval: reader.duration(raw, "busyPollInterval", path, 5, { min: 0 }),
    leaseRetryInterval: reader.duration(raw, "leaseRetryInterval", path, 5_000, { min: 1 }),
    retention: reader.duration(raw, "retention", path, 86_400_000),
    cleanupInterval: reader.duration(raw, "cleanupInterval", path, 300_000, { min: 1 }),
    backoff:
      reader.fn<Backoff>(raw, "backoff", path) ?? fullJitterBackoff({ initialDelay: 100, maxDelay: 10_000 }),
    registry,
    logger: readLogger(reader, raw.logger, `${path}.logger`),
    clock: reader.clock(raw, "clock", path),
  };
  reader.throwIfInvalid();
  return resolved;
}
