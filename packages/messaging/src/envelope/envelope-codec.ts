import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { type Envelope, optionalAttributes } from "./envelope.js";

/** Default largest encoded message, in bytes (256 KiB, as Amazon SQS and EventBridge allow). */
export const defaultMaxMessageBytes = 256 * 1024;

/** Encodes an envelope as CloudEvents structured-mode JSON (`application/cloudevents+json`). */
export function encodeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope));
}

/** The media type of {@link encodeEnvelope}'s output. */
export const cloudEventsJsonType = "application/cloudevents+json; charset=utf-8";

/**
 * Decodes and checks one message: at most `maxBytes` (default {@link defaultMaxMessageBytes}),
 * valid UTF-8 JSON, an object with every required CloudEvents 1.0 attribute of the right type.
 * Throws a {@link MessagingError} `FLT_MESSAGING_MESSAGE_TOO_LARGE` or
 * `FLT_MESSAGING_ENVELOPE_INVALID` whose message lists every problem found. `data` is not checked
 * here; the event definition's schema does that.
 */
export function decodeEnvelope(bytes: Uint8Array, maxBytes: number = defaultMaxMessageBytes): Envelope {
  if (bytes.byteLength > maxBytes) {
    throw new MessagingError(
      MessagingErrorCode.MessageTooLarge,
      `message of ${bytes.byteLength} bytes is over the limit of ${maxBytes} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new MessagingError(
      MessagingErrorCode.EnvelopeInvalid,
      `message is not a CloudEvents JSON envelope: ${(cause as Error).message}`,
      { cause },
    );
  }
  const problems = envelopeProblems(value);
  if (problems.length > 0) {
    throw new MessagingError(
      MessagingErrorCode.EnvelopeInvalid,
      `message is not a CloudEvents 1.0 envelope: ${problems.join("; ")}`,
    );
  }
  return value as Envelope;
}

/** Every way `value` falls short of an {@link Envelope}, as readable sentences; empty when it is one. */
export function envelopeProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [
      `expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`,
    ];
  }
  const event = value as Record<string, unknown>;
  const problems: string[] = [];
  if (event.specversion !== "1.0")
    problems.push(`specversion must be "1.0", got ${JSON.stringify(event.specversion)}`);
  for (const name of ["id", "source", "type"] as const) {
    if (typeof event[name] !== "string" || event[name] === "")
      problems.push(`${name} must be a non-empty string`);
  }
  if (typeof event.time !== "string" || Number.isNaN(Date.parse(event.time))) {
    problems.push("time must be an RFC 3339 timestamp");
  }
  if (event.datacontenttype !== undefined && event.datacontenttype !== "application/json") {
    problems.push(`datacontenttype must be "application/json", got ${JSON.stringify(event.datacontenttype)}`);
  }
  if (!("data" in event)) problems.push("data is missing");
  const version = event.schemaversion ?? 1;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    problems.push("schemaversion must be an integer from 1");
  }
  for (const name of optionalAttributes) {
    if (event[name] !== undefined && typeof event[name] !== "string")
      problems.push(`${name} must be a string`);
  }
  return problems;
}
