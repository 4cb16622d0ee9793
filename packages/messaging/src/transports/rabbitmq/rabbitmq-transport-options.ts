import { ConfigReader, type Duration, isFlotillaError } from "@flotilla/resilience";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { type MessagingLogger, readLogger } from "../../messaging-logger.js";

/** The kind of queue a subscription gets. */
export type RabbitMqQueueType = "quorum" | "classic";

/** Options of {@link rabbitmqTransport}. */
export interface RabbitMqTransportOptions {
  /** `amqp://user:password@host:port/vhost`. Default: built from `host`, `port`, `user`, `password`. */
  readonly url?: string;
  /** Broker host when no `url` is given. Default `127.0.0.1`. */
  readonly host?: string;
  /** Broker port when no `url` is given. Default `5672`. */
  readonly port?: number;
  /** User name when no `url` is given. Default `guest`. */
  readonly user?: string;
  /** Password when no `url` is given. Default `guest`. */
  readonly password?: string;
  /**
   * The durable topic exchange messages are published to; it also prefixes the delay
   * (`<exchange>.delay.<ms>`) and dead-letter (`<exchange>.dead`) exchanges. Default `flotilla`.
   */
  readonly exchange?: string;
  /**
   * Queue type of each subscription's queue. `quorum` (default) is replicated and counts
   * redeliveries (`x-delivery-count`), which makes poison messages detectable; `classic` only says
   * whether a message was redelivered.
   */
  readonly queueType?: RabbitMqQueueType;
  /**
   * The ladder of delays, each a queue whose message TTL dead-letters back: a retry or a delayed
   * publish waits in the smallest rung at least as long as asked, or the largest. A delay longer
   * than the largest rung takes several trips. Default `["100ms", "1s", "5s", "30s", "2m", "10m"]`.
   */
  readonly retryDelays?: readonly Duration[];
  /** How long `publish()` waits for the broker's confirms, including while reconnecting. Default `"5s"`. */
  readonly publishTimeout?: Duration;
  /** Bounds of the exponential backoff between reconnection attempts. Default `{ min: "1s", max: "5s" }`. */
  readonly reconnectDelay?: { readonly min?: Duration; readonly max?: Duration };
  /** Name shown in the broker's management UI. Default `flotilla`. */
  readonly connectionName?: string;
  /** Where connection losses, handler failures and settle errors go. Default: silent. */
  readonly logger?: MessagingLogger;
}

/** {@link RabbitMqTransportOptions} after validation, durations in milliseconds. */
export interface ResolvedRabbitMqTransportOptions {
  readonly url: string;
  readonly exchange: string;
  readonly queueType: RabbitMqQueueType;
  /** Ascending, without duplicates. */
  readonly retryDelaysMs: readonly number[];
  readonly publishTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly connectionName: string;
  readonly logger: MessagingLogger;
}

/** Default of {@link RabbitMqTransportOptions.retryDelays}, in milliseconds. */
export const defaultRabbitMqRetryDelaysMs: readonly number[] = [100, 1_000, 5_000, 30_000, 120_000, 600_000];

const optionKeys = [
  "url",
  "host",
  "port",
  "user",
  "password",
  "exchange",
  "queueType",
  "retryDelays",
  "publishTimeout",
  "reconnectDelay",
  "connectionName",
  "logger",
] as const;

/** Letters, digits, `.`, `_` and `-`: what exchange and queue names may hold. */
export const amqpNamePattern = /^[A-Za-z0-9._-]+$/;

/** Longest TTL RabbitMQ accepts for `x-message-ttl` (2^32 - 1 ms). */
const maxTtlMs = 4_294_967_295;

/**
 * Validates {@link RabbitMqTransportOptions}; throws a `FLT_MESSAGING_CONFIG_INVALID`
 * {@link MessagingError} naming every bad option (`rabbitmq.retryDelays[2]: ...`).
 */
export function parseRabbitMqTransportOptions(raw: unknown): ResolvedRabbitMqTransportOptions {
  const reader = new ConfigReader();
  const path = "rabbitmq";
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, optionKeys, path);

  const url = readUrl(reader, obj, path);
  const exchange = reader.string(obj, "exchange", path, "flotilla");
  if (!amqpNamePattern.test(exchange) || exchange.length > 200) {
    reader.issue(`${path}.exchange`, `must be 1 to 200 letters, digits, ".", "_" or "-", got "${exchange}"`);
  }
  const queueType = reader.oneOf(obj, "queueType", path, ["quorum", "classic"], "quorum");
  const retryDelaysMs = readDelays(reader, obj.retryDelays, `${path}.retryDelays`);
  const publishTimeoutMs = reader.duration(obj, "publishTimeout", path, 5_000, { above: 0 });
  const reconnect = reader.object(obj.reconnectDelay, `${path}.reconnectDelay`);
  reader.knownKeys(reconnect, ["min", "max"], `${path}.reconnectDelay`);
  const reconnectMinMs = reader.duration(reconnect, "min", `${path}.reconnectDelay`, 1_000, { min: 1 });
  const reconnectMaxMs = reader.duration(reconnect, "max", `${path}.reconnectDelay`, 5_000, {
    min: reconnectMinMs,
  });
  const connectionName = reader.string(obj, "connectionName", path, "flotilla");
  const logger = readLogger(reader, obj.logger, `${path}.logger`);

  try {
    reader.throwIfInvalid();
  } catch (cause) {
    if (!isFlotillaError(cause)) throw cause;
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `invalid RabbitMQ transport options: ${cause.message}`,
      { cause },
    );
  }
  return {
    url,
    exchange,
    queueType,
    retryDelaysMs,
    publishTimeoutMs,
    reconnectMinMs,
    reconnectMaxMs,
    connectionName,
    logger,
  };
}

function readUrl(reader: ConfigReader, obj: Record<string, unknown>, path: string): string {
  const parts = ["host", "port", "user", "password"].filter((key) => obj[key] !== undefined);
  if (obj.url !== undefined) {
    if (parts.length > 0) {
      reader.issue(`${path}.url`, `give either url or ${parts.join("/")}, not both`);
    }
    const url = reader.string(obj, "url", path, "");
    if (url !== "" && !/^amqps?:\/\/[^/]/.test(url)) {
      reader.issue(`${path}.url`, `expected an amqp:// or amqps:// URL, got "${redact(url)}"`);
    }
    return url;
  }
  const host = reader.string(obj, "host", path, "127.0.0.1");
  const port = reader.number(obj, "port", path, 5672, { integer: true, min: 1, max: 65_535 });
  const user = reader.string(obj, "user", path, "guest");
  const password = reader.string(obj, "password", path, "guest");
  return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}`;
}

function readDelays(reader: ConfigReader, value: unknown, path: string): number[] {
  if (value === undefined) return [...defaultRabbitMqRetryDelaysMs];
  if (!Array.isArray(value) || value.length === 0) {
    reader.issue(path, "expected a non-empty array of durations");
    return [...defaultRabbitMqRetryDelaysMs];
  }
  const items = Object.fromEntries(value.map((item, index) => [`[${index}]`, item]));
  // A reader of its own, so each issue can be filed as `retryDelays[2]` rather than `retryDelays.[2]`.
  const itemReader = new ConfigReader();
  const delays: number[] = [];
  for (const key of Object.keys(items)) {
    const ms = itemReader.duration(items, key, "", Number.NaN, { min: 1, max: maxTtlMs });
    if (!Number.isNaN(ms)) delays.push(Math.round(ms));
  }
  for (const issue of itemReader.issues) reader.issue(`${path}${issue.path}`, issue.message);
  return [...new Set(delays)].sort((a, b) => a - b);
}

/** The URL without its password, for error messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
}
