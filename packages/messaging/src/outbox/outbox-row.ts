import { createEnvelope, type Envelope, optionalAttributes } from "../envelope/envelope.js";
import { encodeEnvelope } from "../envelope/envelope-codec.js";
import type { OutgoingMessage } from "../transport/transport.js";

/**
 * One outbox row as the relay reads it. The first five columns are the ones Debezium's outbox
 * event router reads (`id`, `aggregatetype`, `aggregateid`, `type`, `payload`); `topic` is the
 * destination and `headers` the envelope's remaining attributes plus the user's headers.
 */
export interface OutboxRow {
  readonly id: string;
  readonly aggregatetype: string;
  /** The partition key, `null` when the message has none. */
  readonly aggregateid: string | null;
  readonly type: string;
  /** The envelope's `data`. */
  readonly payload: unknown;
  readonly topic: string;
  /** See {@link envelopeHeaders}; tolerated as `null` or not an object (read as empty). */
  readonly headers: unknown;
  /** Milliseconds until `available_at`, 0 when due. */
  readonly delay_ms: number;
}

/** The values one INSERT writes for a message (everything but the defaults). */
export interface OutboxRecord extends Omit<OutboxRow, "headers" | "delay_ms"> {
  readonly headers: Record<string, string | number>;
  readonly delayMs: number;
}

/** Names a user header must not take, because the envelope's attributes live beside them in `headers`. */
export const reservedHeaderNames: ReadonlySet<string> = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "time",
  "datacontenttype",
  "data",
  "schemaversion",
  ...optionalAttributes,
]);

const headerAttributes = [
  "subject",
  "correlationid",
  "causationid",
  "traceparent",
  "tracestate",
  "replyto",
] as const;

/**
 * The `headers` column of an envelope: `source`, `time`, `schemaversion` and the optional
 * attributes other than `partitionkey` (which is `aggregateid`), then the user's `headers`, one
 * flat JSON object so that a CDC connector can map each entry to a message header.
 */
export function envelopeHeaders(
  envelope: Envelope,
  userHeaders: Readonly<Record<string, string>> = {},
): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    source: envelope.source,
    time: envelope.time,
    schemaversion: envelope.schemaversion,
  };
  for (const name of headerAttributes) {
    const value = envelope[name];
    if (value !== undefined) headers[name] = value;
  }
  return { ...headers, ...userHeaders };
}

/** The row that stores `envelope` for `topic`. */
export function envelopeToRecord(
  envelope: Envelope,
  topic: string,
  options: {
    readonly aggregateType: string;
    readonly headers?: Readonly<Record<string, string>>;
    readonly delayMs?: number;
  },
): OutboxRecord {
  return {
    id: envelope.id,
    aggregatetype: options.aggregateType,
    aggregateid: envelope.partitionkey ?? null,
    type: envelope.type,
    payload: envelope.data,
    topic,
    headers: envelopeHeaders(envelope, options.headers),
    delayMs: options.delayMs ?? 0,
  };
}

/**
 * Rebuilds the envelope a row stores. Reads leniently, so that one row edited by hand cannot stall
 * the relay: a missing `source` becomes `fallbackSource`, a missing `time` the epoch, attributes
 * of the wrong type are dropped.
 */
export function rowToEnvelope(row: OutboxRow, fallbackSource: string): Envelope {
  const headers = headerObject(row.headers);
  const text = (name: string): string | undefined => {
    const value = headers[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const version = headers.schemaversion;
  const init: Record<string, unknown> = {
    id: row.id,
    type: row.type,
    source: text("source") ?? fallbackSource,
    time: text("time") ?? new Date(0).toISOString(),
    data: row.payload,
    schemaversion: typeof version === "number" && Number.isInteger(version) && version >= 1 ? version : 1,
  };
  if (row.aggregateid !== null) init.partitionkey = row.aggregateid;
  for (const name of headerAttributes) {
    const value = text(name);
    if (value !== undefined) init[name] = value;
  }
  return createEnvelope(init as unknown as Parameters<typeof createEnvelope>[0]);
}

/** The user's headers of a row: the string entries of `headers` that are not envelope attributes. */
export function rowUserHeaders(row: OutboxRow): Record<string, string> | undefined {
  const headers = headerObject(row.headers);
  let user: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (reservedHeaderNames.has(name) || typeof value !== "string") continue;
    user ??= {};
    user[name] = value;
  }
  return user;
}

/** The message the relay hands the transport for a row. */
export function rowToMessage(row: OutboxRow, fallbackSource: string): OutgoingMessage {
  const headers = rowUserHeaders(row);
  const delayMs = Math.max(0, Math.ceil(Number(row.delay_ms) || 0));
  return {
    id: row.id,
    topic: row.topic,
    ...(row.aggregateid === null ? {} : { key: row.aggregateid }),
    ...(headers === undefined ? {} : { headers }),
    body: encodeEnvelope(rowToEnvelope(row, fallbackSource)),
    ...(delayMs > 0 ? { delayMs } : {}),
  };
}

function headerObject(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
