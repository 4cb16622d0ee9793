import type { DeadLetter } from "../transport/transport.js";

/** A {@link DeadLetter} as the dead-letter HTTP API shows it. */
export interface DeadLetterJson {
  readonly id: string;
  readonly queue: string;
  readonly reason: { readonly code: string; readonly message: string };
  readonly attempts: number;
  /** ISO 8601. */
  readonly deadLetteredAt: string;
  readonly message: {
    readonly id: string;
    readonly topic: string;
    readonly key?: string;
    readonly headers?: Readonly<Record<string, string>>;
    /** The body bytes, base64. */
    readonly body: string;
    /** The body parsed, when it is UTF-8 JSON (an encoded envelope normally is). */
    readonly envelope?: unknown;
  };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function parseJsonBody(body: Uint8Array): { readonly envelope?: unknown } {
  try {
    return { envelope: JSON.parse(strictUtf8.decode(body)) as unknown };
  } catch {
    return {};
  }
}

/** Converts a {@link DeadLetter} for a JSON response: body as base64, plus `envelope` when it is JSON. */
export function deadLetterJson(letter: DeadLetter): DeadLetterJson {
  const { message } = letter;
  return {
    id: letter.id,
    queue: letter.queue,
    reason: { code: letter.reason.code, message: letter.reason.message },
    attempts: letter.attempts,
    deadLetteredAt: letter.deadLetteredAt.toISOString(),
    message: {
      id: message.id,
      topic: message.topic,
      ...(message.key === undefined ? {} : { key: message.key }),
      ...(message.headers === undefined ? {} : { headers: message.headers }),
      body: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString(
        "base64",
      ),
      ...parseJsonBody(message.body),
    },
  };
}
