import { ConfigReader, isConfigError } from "@flotilla/resilience";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { type MessagingLogger, readLogger } from "../../messaging-logger.js";

/** Options of {@link natsTransport}. Durations are milliseconds or strings such as `"30s"`. */
export interface NatsTransportOptions {
  /** `host:port` of the NATS server(s). Default `"127.0.0.1:4222"`. */
  readonly servers?: string | readonly string[];
  /** Name of the JetStream stream; the dead letters go to `<stream>_DLQ`. Default `"FLOTILLA"`. */
  readonly stream?: string;
  /**
   * First subject token(s): topic `a.b` is subject `<prefix>.a.b`; the transport also uses
   * `<prefix>_replay.>` and `<prefix>_dlq.>`. Default `"flotilla"`.
   */
  readonly subjectPrefix?: string;
  /** How long JetStream remembers a `Nats-Msg-Id` to drop a second publish of it. Default 2 minutes. */
  readonly duplicateWindow?: number | string;
  /**
   * How long a delivery may stay unsettled before JetStream delivers it again. The transport
   * keeps a delivery alive (`working()`) while its handler runs, so this bounds how soon a message
   * returns after a crash or a lost connection, not how long a handler may take. Default 30 s.
   */
  readonly ackWait?: number | string;
  /**
   * Most deliveries of a message to a subscription's handler. A retry (or a throw) on the last one
   * dead-letters it (`max-attempts`); a message delivered again after its last delivery went
   * unsettled (the process died) is dead-lettered as `poison` without calling the handler, so
   * JetStream never drops a message itself. Default 20.
   */
  readonly maxDeliver?: number;
  /**
   * Most messages JetStream keeps unacknowledged per consumer, counting those waiting out a
   * `retry` delay or a publish delay (JetStream 2.9 keeps a delayed NAK in the ack-pending count).
   * How many the transport fetches at once is the subscription's `prefetch`. Default 10 000.
   */
  readonly maxAckPending?: number;
  /** Longest wait for a publish acknowledgement or a JetStream API call. Default 5 s. */
  readonly publishTimeout?: number | string;
  /** Where the transport logs connection changes and handler failures. Default: silent. */
  readonly logger?: MessagingLogger;
}

/** {@link NatsTransportOptions} with defaults applied, durations in milliseconds. */
export interface ResolvedNatsTransportOptions {
  readonly servers: readonly string[];
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly duplicateWindow: number;
  readonly ackWait: number;
  readonly maxDeliver: number;
  readonly maxAckPending: number;
  readonly publishTimeout: number;
  readonly logger: MessagingLogger;
}

/** The defaults of {@link NatsTransportOptions}. */
export const natsTransportDefaults = {
  servers: ["127.0.0.1:4222"],
  stream: "FLOTILLA",
  subjectPrefix: "flotilla",
  duplicateWindow: 120_000,
  ackWait: 30_000,
  maxDeliver: 20,
  maxAckPending: 10_000,
  publishTimeout: 5_000,
} as const;

const knownKeys = [
  "servers",
  "stream",
  "subjectPrefix",
  "duplicateWindow",
  "ackWait",
  "maxDeliver",
  "maxAckPending",
  "publishTimeout",
  "logger",
] as const;

const streamName = /^[A-Za-z0-9_-]{1,48}$/;
const subjectWords = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const hostPort = /^(nats:\/\/)?[^\s/,]+(:\d{1,5})?$/;

/**
 * Validates `raw` and applies the defaults. Throws `FLT_MESSAGING_CONFIG_INVALID` listing every
 * problem with its option path (`ackWait`, `servers[1]`).
 */
export function parseNatsTransportOptions(raw: unknown): ResolvedNatsTransportOptions {
  const reader = new ConfigReader();
  const obj = reader.object(raw, "");
  reader.knownKeys(obj, knownKeys, "");
  const resolved: ResolvedNatsTransportOptions = {
    servers: readServers(reader, obj.servers),
    stream: readPattern(
      reader,
      obj,
      "stream",
      natsTransportDefaults.stream,
      streamName,
      "1 to 48 letters, digits, _ or -",
    ),
    subjectPrefix: readPattern(
      reader,
      obj,
      "subjectPrefix",
      natsTransportDefaults.subjectPrefix,
      subjectWords,
      "dot-separated words of letters, digits, _ and -",
    ),
    duplicateWindow: reader.duration(obj, "duplicateWindow", "", natsTransportDefaults.duplicateWindow, {
      min: 1_000,
    }),
    ackWait: reader.duration(obj, "ackWait", "", natsTransportDefaults.ackWait, { min: 300 }),
    maxDeliver: reader.number(obj, "maxDeliver", "", natsTransportDefaults.maxDeliver, {
      integer: true,
      min: 1,
    }),
    maxAckPending: reader.number(obj, "maxAckPending", "", natsTransportDefaults.maxAckPending, {
      integer: true,
      min: 1,
    }),
    publishTimeout: reader.duration(obj, "publishTimeout", "", natsTransportDefaults.publishTimeout, {
      min: 100,
    }),
    logger: readLogger(reader, obj.logger, "logger"),
  };
  try {
    reader.throwIfInvalid();
  } catch (error) {
    if (!isConfigError(error)) throw error;
    throw new MessagingError(MessagingErrorCode.ConfigInvalid, `NATS transport: ${error.message}`, {
      cause: error,
    });
  }
  return resolved;
}

function readServers(reader: ConfigReader, value: unknown): readonly string[] {
  if (value === undefined) return natsTransportDefaults.servers;
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    reader.issue("servers", "expected a host:port string or a non-empty array of them");
    return natsTransportDefaults.servers;
  }
  list.forEach((server: unknown, index) => {
    if (typeof server !== "string" || !hostPort.test(server)) {
      reader.issue(`servers[${index}]`, `expected host:port, got ${JSON.stringify(server)}`);
    }
  });
  return list as string[];
}

function readPattern(
  reader: ConfigReader,
  obj: Record<string, unknown>,
  key: string,
  fallback: string,
  pattern: RegExp,
  expected: string,
): string {
  const value = reader.string(obj, key, "", fallback);
  if (value === fallback) return value;
  if (!pattern.test(value)) {
    reader.issue(key, `expected ${expected}, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value;
}
