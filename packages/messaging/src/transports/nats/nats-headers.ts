import { headers as createHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { TransportMessage } from "../../transport/transport.js";

/** The NATS headers the transport sets beside a message's own. */
export const NatsHeader = {
  /** JetStream's de-duplication id: the message id on a first publish. */
  MsgId: "Nats-Msg-Id",
  Key: "Flotilla-Key",
  /** Milliseconds after the stream stored the message before it may be handled. */
  Delay: "Flotilla-Delay",
  /** The message id, where `Nats-Msg-Id` holds another de-duplication id (replays, dead letters). */
  Id: "Flotilla-Id",
  /** The topic, where the subject is not the topic's (replays, dead letters). */
  Topic: "Flotilla-Topic",
  Queue: "Flotilla-Queue",
  ReasonCode: "Flotilla-Reason-Code",
  Reason: "Flotilla-Reason",
  Attempts: "Flotilla-Attempts",
  Subject: "Flotilla-Subject",
  DeadLetteredAt: "Flotilla-Dead-Lettered-At",
} as const;

const reserved = new Set<string>(Object.values(NatsHeader).map((name) => name.toLowerCase()));
const headerName = /^[!-9;-~]+$/;

/**
 * Throws `FLT_MESSAGING_CONFIG_INVALID` for message headers NATS cannot carry (names with spaces
 * or `:`, values with line breaks) or that the transport reserves (`Nats-*`, `Flotilla-Key` …).
 */
export function assertCarriableHeaders(
  headers: Readonly<Record<string, string>> | undefined,
  what: string,
): void {
  if (headers === undefined) return;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!headerName.test(name) || lower.startsWith("nats-") || reserved.has(lower)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `${what}: header name ${JSON.stringify(name)} is not allowed (printable ASCII without ":" or spaces; Nats-* and Flotilla-Key … are reserved)`,
      );
    }
    if (typeof value !== "string" || /[\r\n]/.test(value)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `${what}: header ${JSON.stringify(name)} must be a string without line breaks`,
      );
    }
  }
}

/** NATS headers carrying `message`'s own headers and key, plus `extra`. */
export function natsHeadersOf(
  message: Pick<TransportMessage, "key" | "headers">,
  extra: Readonly<Record<string, string>> = {},
): MsgHdrs {
  const result = createHeaders();
  for (const [name, value] of Object.entries(message.headers ?? {})) result.set(name, value);
  if (message.key !== undefined) result.set(NatsHeader.Key, message.key);
  for (const [name, value] of Object.entries(extra)) result.set(name, value);
  return result;
}

/** A header's value, or `undefined` when it is absent or empty. */
export function headerValue(headers: MsgHdrs | undefined, name: string): string | undefined {
  const value = headers?.get(name);
  return value === undefined || value === "" ? undefined : value;
}

/** The message's own headers: everything but `Nats-*` and the transport's. */
export function ownHeaders(headers: MsgHdrs | undefined): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  const result: Record<string, string> = {};
  for (const name of headers.keys()) {
    const lower = name.toLowerCase();
    if (lower.startsWith("nats-") || reserved.has(lower)) continue;
    result[name] = headers.get(name);
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

/** Rebuilds a {@link TransportMessage} from what NATS delivered. */
export function transportMessageOf(
  topic: string,
  headers: MsgHdrs | undefined,
  body: Uint8Array,
  fallbackId: string,
): TransportMessage {
  const key = headerValue(headers, NatsHeader.Key);
  const own = ownHeaders(headers);
  return {
    id: headerValue(headers, NatsHeader.Id) ?? headerValue(headers, NatsHeader.MsgId) ?? fallbackId,
    topic,
    ...(key === undefined ? {} : { key }),
    ...(own === undefined ? {} : { headers: own }),
    body,
  };
}

/** Makes `text` a one-line header value of at most `max` characters. */
export function oneLine(text: string, max = 4_000): string {
  const flat = text.replace(/[\r\n]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
