import { injectContext } from "@flotilla/observability";
import { ConfigReader, type Duration, parseDuration } from "@flotilla/resilience";
import type { EventData, EventDefinition } from "../envelope/define-event.js";
import { createEnvelope, type Envelope } from "../envelope/envelope.js";
import { defaultMaxMessageBytes, encodeEnvelope } from "../envelope/envelope-codec.js";
import { isEventDefinition } from "../envelope/is-event-definition.js";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { Queryable } from "../inbox/queryable.js";
import { assertTopic } from "../transport/topic.js";
import { envelopeToRecord, type OutboxRecord, reservedHeaderNames } from "./outbox-row.js";
import { OutboxSql, outboxIdentifierPattern } from "./outbox-sql.js";

/** Options of {@link outbox}. */
export interface OutboxOptions {
  /** The CloudEvents `source` of every message, e.g. `/services/orders`. Required. */
  readonly source: string;
  /** The schema of the outbox table; lower-case letters, digits and `_`. Default `"flotilla"`. */
  readonly schema?: string;
  /** The outbox table; lower-case letters, digits and `_`. Default `"outbox"`. */
  readonly table?: string;
  /** Largest encoded envelope accepted, in bytes. Default `defaultMaxMessageBytes` (256 KiB). */
  readonly maxMessageBytes?: number;
}

/** How one message is published; everything is optional. */
export interface PublishOptions {
  /** The partition key (written to `aggregateid` and `partitionkey`): messages with one key stay in order. */
  readonly key?: string;
  /** The `aggregatetype` column (Debezium routes on it). Default: the event type up to its first `.`. */
  readonly aggregateType?: string;
  /** The CloudEvents `subject`. */
  readonly subject?: string;
  /** The envelope id, a UUID. Default: a random one. */
  readonly id?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  /** For commands: the topic the reply goes to. */
  readonly replyTo?: string;
  /** Headers the transport carries beside the body; names of envelope attributes are refused. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Deliver no earlier than this long after the transaction started. Default 0. */
  readonly delay?: Duration;
}

/** Options of {@link Outbox.publishEnvelope}: those of {@link PublishOptions} that an envelope does not already carry. */
export type EnvelopePublishOptions = Pick<PublishOptions, "aggregateType" | "headers" | "delay">;

/** One entry of {@link Outbox.publishMany}. */
export interface OutboxEntry<E extends EventDefinition = EventDefinition> {
  readonly event: E;
  readonly data: EventData<E>;
  readonly options?: PublishOptions;
}

const knownOptions = ["source", "schema", "table", "maxMessageBytes"];
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The transactional outbox of one service: {@link Outbox.publish} writes the message as a row in
 * the same transaction as the business change, so it is published (by an {@link OutboxRelay})
 * exactly when that transaction commits — never for a rollback, never lost after a commit.
 *
 * The table keeps Debezium's outbox column names (`id`, `aggregatetype`, `aggregateid`, `type`,
 * `payload`), so a CDC connector can replace the relay. PostgreSQL 14 or later.
 *
 * @example
 * ```ts
 * const orders = outbox({ source: "/services/orders" });
 * await orders.install(db.pool);
 * await db.transaction(async (client) => {
 *   await client.query("INSERT INTO orders (id, total) VALUES ($1, $2)", [id, total]);
 *   await orders.publish(client, orderPlaced, { orderId: id, total }, { key: id });
 * });
 * ```
 */
export class Outbox {
  /** The quoted, schema-qualified table, e.g. `"flotilla"."outbox"`. */
  readonly table: string;
  /** The `NOTIFY` channel the table's insert trigger signals at commit. */
  readonly notifyChannel: string;
  /** The CloudEvents `source` of the messages. */
  readonly source: string;
  /** The schema name as given (unquoted). */
  readonly schema: string;
  /** The table name as given (unquoted). */
  readonly tableName: string;
  /** Largest encoded envelope {@link Outbox.publish} accepts, in bytes. */
  readonly maxMessageBytes: number;
  /** The statements against this table (used by the relay). */
  readonly sql: OutboxSql;

  /** Validates `options`; throws a `ConfigError` naming each bad one. */
  constructor(options: OutboxOptions) {
    const reader = new ConfigReader();
    const raw = reader.object(options, "outbox");
    reader.knownKeys(raw, knownOptions, "outbox");
    if (raw.source === undefined)
      reader.issue("outbox.source", "required: the CloudEvents source, e.g. /services/orders");
    const source = reader.string(raw, "source", "outbox", "/");
    const schema = identifier(reader, raw, "schema", "flotilla");
    const table = identifier(reader, raw, "table", "outbox");
    const maxMessageBytes = reader.number(raw, "maxMessageBytes", "outbox", defaultMaxMessageBytes, {
      min: 1024,
      integer: true,
    });
    reader.throwIfInvalid();
    this.source = source;
    this.schema = schema;
    this.tableName = table;
    this.maxMessageBytes = maxMessageBytes;
    this.sql = new OutboxSql(schema, table);
    this.table = this.sql.table;
    this.notifyChannel = this.sql.notifyChannel;
  }

  /**
   * Creates the schema, table, indexes and notify trigger unless they exist. Safe when several
   * instances start at once (a transaction-level advisory lock serialises them). `db` may be a
   * pool or a client.
   */
  async install(db: Queryable): Promise<void> {
    await db.query(this.sql.install);
  }

  /**
   * Writes `event` with `data` as one outbox row through `tx`, which must be the client of the
   * transaction that makes the business change (a pool would commit the row on its own). Checks
   * `data` against the event's schema (`FLT_MESSAGING_PAYLOAD_INVALID`, naming each failing path)
   * and the encoded size (`FLT_MESSAGING_MESSAGE_TOO_LARGE`), and records the active trace context
   * as `traceparent`/`tracestate`. Returns the envelope the relay will publish.
   */
  async publish<E extends EventDefinition>(
    tx: Queryable,
    event: E,
    data: EventData<E>,
    options?: PublishOptions,
  ): Promise<Envelope<EventData<E>>> {
    const [envelope] = await this.publishMany(tx, [{ event, data, ...(options ? { options } : {}) }]);
    return envelope as Envelope<EventData<E>>;
  }

  /** {@link Outbox.publish} for several messages in one INSERT, in order; checks them all before writing any. */
  async publishMany(tx: Queryable, entries: readonly OutboxEntry[]): Promise<Envelope[]> {
    const envelopes: Envelope[] = [];
    const records: OutboxRecord[] = [];
    for (const { event, data, options = {} } of entries) {
      const envelope = this.#envelope(event, data, options);
      envelopes.push(envelope);
      records.push(this.#record(envelope, event.topic, options));
    }
    await this.#insert(tx, records);
    return envelopes;
  }

  /**
   * Writes a prebuilt envelope (a reply, a forwarded event) for `topic` through `tx`; its
   * `partitionkey` is the key. Checks the id, topic, headers and size, not `data`.
   */
  async publishEnvelope(
    tx: Queryable,
    envelope: Envelope,
    topic: string,
    options: EnvelopePublishOptions = {},
  ): Promise<void> {
    assertTopic(topic);
    await this.#insert(tx, [this.#record(envelope, topic, options)]);
  }

  #envelope(event: EventDefinition, data: unknown, options: PublishOptions): Envelope {
    if (!isEventDefinition(event)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        "outbox: expected an event made by defineEvent()",
      );
    }
    const parsed = event.schema.safeParse(data);
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (issue) =>
          `${issue.path.length === 0 ? "(root)" : issue.path.map(String).join(".")}: ${issue.message}`,
      );
      throw new MessagingError(
        MessagingErrorCode.PayloadInvalid,
        `data of "${event.type}" does not match its schema: ${issues.join("; ")}`,
        { cause: parsed.error },
      );
    }
    if (options.id !== undefined && (typeof options.id !== "string" || !uuid.test(options.id))) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `outbox: id must be a UUID, got ${JSON.stringify(options.id)}`,
      );
    }
    const trace = injectContext<Record<string, string>>({});
    const optional = {
      id: options.id,
      subject: options.subject,
      partitionkey: options.key,
      correlationid: options.correlationId,
      causationid: options.causationId,
      replyto: options.replyTo,
      traceparent: trace.traceparent,
      tracestate: trace.tracestate,
    };
    for (const [name, value] of Object.entries(optional)) {
      if (value !== undefined && (typeof value !== "string" || value === "")) {
        throw new MessagingError(
          MessagingErrorCode.ConfigInvalid,
          `outbox: ${name} must be a non-empty string`,
        );
      }
    }
    if (options.replyTo !== undefined) assertTopic(options.replyTo, "replyTo");
    return createEnvelope({
      type: event.type,
      source: this.source,
      data,
      schemaversion: event.version,
      ...(Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)) as Record<
        string,
        string
      >),
    });
  }

  #record(envelope: Envelope, topic: string, options: EnvelopePublishOptions): OutboxRecord {
    if (typeof envelope?.id !== "string" || !uuid.test(envelope.id)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `outbox: envelope id must be a UUID, got ${JSON.stringify(envelope?.id)}`,
      );
    }
    const headers = options.headers ?? {};
    for (const [name, value] of Object.entries(headers)) {
      if (reservedHeaderNames.has(name.toLowerCase())) {
        throw new MessagingError(
          MessagingErrorCode.ConfigInvalid,
          `outbox: header "${name}" is an envelope attribute; set it through its own option`,
        );
      }
      if (typeof value !== "string") {
        throw new MessagingError(
          MessagingErrorCode.ConfigInvalid,
          `outbox: header "${name}" must be a string`,
        );
      }
    }
    const aggregateType = options.aggregateType ?? envelope.type.split(".")[0]!;
    if (typeof aggregateType !== "string" || aggregateType === "") {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        "outbox: aggregateType must be a non-empty string",
      );
    }
    let delayMs = 0;
    if (options.delay !== undefined) {
      try {
        delayMs = parseDuration(options.delay);
      } catch (cause) {
        throw new MessagingError(
          MessagingErrorCode.ConfigInvalid,
          `outbox: delay ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
    }
    const bytes = encodeEnvelope(envelope).byteLength;
    if (bytes > this.maxMessageBytes) {
      throw new MessagingError(
        MessagingErrorCode.MessageTooLarge,
        `message ${envelope.id} of type "${envelope.type}" is ${bytes} bytes, over the limit of ${this.maxMessageBytes} bytes`,
      );
    }
    return envelopeToRecord(envelope, topic, { aggregateType, headers, delayMs });
  }

  async #insert(tx: Queryable, records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (records.length === 1) {
      const r = records[0]!;
      await tx.query({
        ...this.sql.insertOne,
        values: [
          r.id,
          r.aggregatetype,
          r.aggregateid,
          r.type,
          JSON.stringify(r.payload ?? null),
          r.topic,
          JSON.stringify(r.headers),
          r.delayMs,
        ],
      });
      return;
    }
    const column = <T>(pick: (record: OutboxRecord) => T): T[] => records.map(pick);
    await tx.query(this.sql.insert, [
      column((r) => r.id),
      column((r) => r.aggregatetype),
      column((r) => r.aggregateid),
      column((r) => r.type),
      column((r) => JSON.stringify(r.payload ?? null)),
      column((r) => r.topic),
      column((r) => JSON.stringify(r.headers)),
      column((r) => r.delayMs),
    ]);
  }
}

function identifier(
  reader: ConfigReader,
  raw: Record<string, unknown>,
  key: string,
  fallback: string,
): string {
  const value = reader.string(raw, key, "outbox", fallback);
  if (!outboxIdentifierPattern.test(value)) {
    reader.issue(
      `outbox.${key}`,
      `must be 1 to 63 lower-case letters, digits and "_", not starting with a digit, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Creates an {@link Outbox}; see there. Throws a `ConfigError` naming each bad option. */
export function outbox(options: OutboxOptions): Outbox {
  return new Outbox(options);
}
