import {
  type Backoff,
  type Clock,
  type ConfigReader,
  type Duration,
  fullJitterBackoff,
} from "@flotilla/resilience";
import type { Pool } from "pg";
import type { Registry } from "prom-client";
import { defaultMaxMessageBytes } from "../envelope/envelope-codec.js";
import { type Inbox, inbox } from "../inbox/inbox.js";
import { isMessagingLogger, type MessagingLogger, silentLogger } from "../messaging-logger.js";
import { assertTopicPattern } from "../transport/topic.js";
import type { Transport } from "../transport/transport.js";
import type { EnvelopeOutbox } from "./envelope-sink.js";
import type { EventHandler } from "./event-handler.js";

/** Options of {@link consumer}. */
export interface ConsumerOptions {
  /** The consumer group: the transport's queue, and the inbox's `consumer`. Letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  readonly transport: Transport;
  /** One handler per event type (see `on`, `onCommand`). */
  readonly handlers: readonly EventHandler[];
  /** Topic patterns to subscribe to. Default: the topics of the handlers' events. */
  readonly topics?: readonly string[];
  /**
   * The consumer's database. With it every handler runs in an inbox transaction (exactly-once
   * effects through `context.tx`); without it handlers run without a transaction (at least once).
   * Give the pool a `connectionTimeoutMillis`, so that an unreachable database is noticed (and the
   * batch retried) instead of waited for; and at least `batch.concurrency` connections.
   */
  readonly db?: Pool;
  /** The inbox table. Default `inbox()` (`"flotilla"."inbox"`); installed by `start()`. */
  readonly inbox?: Inbox;
  /**
   * Writes the replies of `onCommand` handlers in the inbox transaction (exactly once with the
   * effects). Needs `db`. Without it replies are published with the transport after the commit.
   */
  readonly outbox?: EnvelopeOutbox;
  /** The CloudEvents `source` of replies. Default `/consumers/<name>`. */
  readonly source?: string;
  /** Most deliveries in progress at once. Default 32. */
  readonly prefetch?: number;
  /** Deliveries that arrive together share one transaction. */
  readonly batch?: {
    /**
     * Most messages in one transaction. Default 64: each handler that writes takes a
     * subtransaction (its savepoint) and PostgreSQL caches 64 per transaction before it slows down.
     */
    readonly maxSize?: number;
    /** Most transactions at once (each holds a pool connection). Default 4. */
    readonly concurrency?: number;
  };
  readonly retry?: {
    /** Attempts of a message before it is dead-lettered (`max-attempts`). Default 5. */
    readonly maxAttempts?: number;
    /**
     * Delay before the retry after attempt `n` failed, and between tries while the database is
     * unreachable. Default full jitter from 200 ms, doubling, at most 30 s.
     */
    readonly backoff?: Backoff;
  };
  /**
   * Deletes inbox records older than `olderThan` every `every` (default `"1h"`), so the table stays
   * small. Keep records longer than the broker may redeliver a message. Needs `db`. Default: no
   * sweeping (call `Inbox.sweep` yourself).
   */
  readonly retention?: { readonly olderThan: Duration; readonly every?: Duration };
  /** Largest message accepted; larger ones are dead-lettered as `too-large`. Default 256 KiB. */
  readonly maxMessageBytes?: number;
  /** pino-compatible; default silent. */
  readonly logger?: MessagingLogger;
  /** prom-client registry for the consumer's metrics; default none. */
  readonly registry?: Registry;
  /** Times handler durations and database retry waits. Default `systemClock`. */
  readonly clock?: Clock;
}

/** {@link ConsumerOptions} checked and with defaults. */
export interface ResolvedConsumerOptions {
  readonly name: string;
  readonly transport: Transport;
  readonly handlers: ReadonlyMap<string, EventHandler>;
  readonly topics: readonly string[];
  readonly db: Pool | undefined;
  readonly inbox: Inbox;
  readonly outbox: EnvelopeOutbox | undefined;
  readonly source: string;
  readonly prefetch: number;
  readonly batchSize: number;
  readonly batchConcurrency: number;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly retention: { readonly olderThanMs: number; readonly everyMs: number } | undefined;
  readonly maxMessageBytes: number;
  readonly logger: MessagingLogger;
  readonly registry: Registry | undefined;
  readonly clock: Clock;
}

const known = [
  "name",
  "transport",
  "handlers",
  "topics",
  "db",
  "inbox",
  "outbox",
  "source",
  "prefetch",
  "batch",
  "retry",
  "retention",
  "maxMessageBytes",
  "logger",
  "registry",
  "clock",
];
const queueName = /^[A-Za-z0-9._-]+$/;
const defaultBackoff = fullJitterBackoff({ initialDelay: 200, maxDelay: 30_000 });

/** Checks `options`, recording every problem with its path in `reader`. */
export function parseConsumerOptions(
  options: ConsumerOptions,
  reader: ConfigReader,
): ResolvedConsumerOptions {
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  const name = reader.string(raw, "name", "", "");
  if (raw.name === undefined) reader.issue("name", "is required: the consumer group (queue) name");
  else if (name !== "" && !queueName.test(name))
    reader.issue("name", `must be letters, digits, ".", "_" and "-", got "${name}"`);

  const transport = raw.transport as Transport | undefined;
  if (typeof transport?.subscribe !== "function" || typeof transport.publish !== "function") {
    reader.issue("transport", "expected a Transport with publish() and subscribe()");
  }

  const handlers = new Map<string, EventHandler>();
  if (!Array.isArray(raw.handlers) || raw.handlers.length === 0) {
    reader.issue("handlers", "expected a non-empty array of handlers made with on() or onCommand()");
  } else {
    raw.handlers.forEach((value: Partial<EventHandler> | undefined, index) => {
      const type = value?.event?.type;
      if (typeof value?.run !== "function" || typeof type !== "string") {
        reader.issue(`handlers[${index}]`, "expected a handler made with on() or onCommand()");
      } else if (handlers.has(type)) {
        reader.issue(`handlers[${index}]`, `a second handler for event type "${type}"`);
      } else handlers.set(type, value as EventHandler);
    });
  }

  let topics: string[] = [...new Set([...handlers.values()].map((h) => h.event.topic))];
  if (raw.topics !== undefined) {
    if (!Array.isArray(raw.topics) || raw.topics.length === 0) {
      reader.issue("topics", "expected a non-empty array of topic patterns");
    } else {
      topics = raw.topics as string[];
      topics.forEach((pattern, index) => {
        try {
          assertTopicPattern(pattern, "pattern");
        } catch (error) {
          reader.issue(`topics[${index}]`, (error as Error).message);
        }
      });
    }
  }

  const db = raw.db as Pool | undefined;
  if (db !== undefined && (typeof db?.connect !== "function" || typeof db.query !== "function")) {
    reader.issue("db", "expected a pg Pool");
  }
  const box = (raw.inbox as Inbox | undefined) ?? inbox();
  if (typeof box?.record !== "function" || typeof box.forget !== "function") {
    reader.issue("inbox", "expected an Inbox made with inbox()");
  }
  const outbox = raw.outbox as EnvelopeOutbox | undefined;
  if (outbox !== undefined) {
    if (typeof outbox?.publishEnvelope !== "function") {
      reader.issue("outbox", "expected an Outbox with publishEnvelope()");
    } else if (db === undefined) {
      reader.issue("outbox", "needs db: replies go through the outbox in the inbox transaction");
    }
  }
  const source = reader.string(raw, "source", "", `/consumers/${name}`);
  const prefetch = reader.number(raw, "prefetch", "", 32, { min: 1, max: 10_000, integer: true });
  const batch = reader.object(raw.batch, "batch");
  reader.knownKeys(batch, ["maxSize", "concurrency"], "batch");
  const batchSize = reader.number(batch, "maxSize", "batch", 64, { min: 1, max: 1_000, integer: true });
  const batchConcurrency = reader.number(batch, "concurrency", "batch", 4, {
    min: 1,
    max: 64,
    integer: true,
  });
  const retry = reader.object(raw.retry, "retry");
  reader.knownKeys(retry, ["maxAttempts", "backoff"], "retry");
  const maxAttempts = reader.number(retry, "maxAttempts", "retry", 5, { min: 1, max: 1_000, integer: true });
  const backoff = reader.fn<Backoff>(retry, "backoff", "retry") ?? defaultBackoff;
  let retention: ResolvedConsumerOptions["retention"];
  if (raw.retention !== undefined) {
    const keep = reader.object(raw.retention, "retention");
    reader.knownKeys(keep, ["olderThan", "every"], "retention");
    if (keep.olderThan === undefined) reader.issue("retention.olderThan", 'is required, e.g. "7d"');
    const olderThanMs = reader.duration(keep, "olderThan", "retention", 0, { above: 0 });
    const everyMs = reader.duration(keep, "every", "retention", 3_600_000, { above: 0 });
    if (db === undefined) reader.issue("retention", "needs db: it sweeps the inbox table");
    retention = { olderThanMs, everyMs };
  }
  const maxMessageBytes = reader.number(raw, "maxMessageBytes", "", defaultMaxMessageBytes, {
    min: 1,
    integer: true,
  });
  let logger = silentLogger;
  if (raw.logger !== undefined) {
    if (isMessagingLogger(raw.logger)) logger = raw.logger;
    else reader.issue("logger", "expected a pino-compatible logger with debug(), info(), warn() and error()");
  }
  const registry = raw.registry as Registry | undefined;
  if (registry !== undefined && typeof registry?.getSingleMetric !== "function") {
    reader.issue("registry", "expected a prom-client Registry");
  }
  const clock = reader.clock(raw, "clock", "");
  return {
    name,
    transport: transport as Transport,
    handlers,
    topics,
    db,
    inbox: box,
    outbox,
    source,
    prefetch,
    batchSize,
    batchConcurrency,
    maxAttempts,
    backoff,
    retention,
    maxMessageBytes,
    logger,
    registry,
    clock,
  };
}
