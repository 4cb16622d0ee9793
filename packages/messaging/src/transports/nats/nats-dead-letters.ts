import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type SeqMsgRequest,
  type StoredMsg,
} from "@nats-io/jetstream";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import { assertTopic } from "../../transport/topic.js";
import type {
  DeadLetter,
  DeadLetterAdmin,
  DeadLetterCode,
  DeadLetterReason,
  DeadLetterSelection,
  TransportMessage,
} from "../../transport/transport.js";
import { toMessagingError } from "./nats-errors.js";
import { headerValue, NatsHeader, natsHeadersOf, oneLine, transportMessageOf } from "./nats-headers.js";
import type { NatsSubjects } from "./nats-subjects.js";

/** A message on its way to the dead-letter stream. */
export interface DeadLetterEntry {
  readonly queue: string;
  readonly message: TransportMessage;
  readonly reason: DeadLetterReason;
  readonly attempts: number;
  /** The subject it was delivered on. */
  readonly subject: string;
  /** The main stream's sequence of the delivery, which makes a repeated dead-lettering a duplicate. */
  readonly sequence: number;
}

/** What {@link NatsDeadLetters} works with. */
export interface NatsDeadLettersContext {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: NatsSubjects;
  /** The dead-letter stream's name. */
  readonly stream: string;
  readonly publishTimeout: number;
  /** Throws `FLT_MESSAGING_CLOSED` once the transport is closed. */
  readonly assertOpen: () => void;
}

const defaultLimit = 100;
/** JetStream's API error code for deleting a sequence the stream does not hold. */
const sequenceNotFound = 10043;

/**
 * Dead letters in the stream `<stream>_DLQ`, one subject per queue (`<prefix>_dlq.<queue>`), each
 * a copy of the message with headers for its queue, reason, attempts, topic and time. `id` is the
 * stream sequence. A replay publishes the copy to `<prefix>_replay.<queue>` in the main stream,
 * which only that queue's consumers filter, then deletes the dead letter.
 */
export class NatsDeadLetters implements DeadLetterAdmin {
  readonly #context: NatsDeadLettersContext;

  constructor(context: NatsDeadLettersContext) {
    this.#context = context;
  }

  /** Stores a dead letter and resolves once JetStream acknowledged it. */
  async store(entry: DeadLetterEntry): Promise<void> {
    const { js, subjects, publishTimeout } = this.#context;
    const headers = natsHeadersOf(entry.message, {
      [NatsHeader.Id]: entry.message.id,
      [NatsHeader.Topic]: entry.message.topic,
      [NatsHeader.Queue]: entry.queue,
      [NatsHeader.ReasonCode]: entry.reason.code,
      [NatsHeader.Reason]: oneLine(entry.reason.message),
      [NatsHeader.Attempts]: String(entry.attempts),
      [NatsHeader.Subject]: entry.subject,
      [NatsHeader.DeadLetteredAt]: new Date().toISOString(),
    });
    try {
      await js.publish(subjects.deadLetterSubject(entry.queue), entry.message.body, {
        msgID: `${entry.queue}:${entry.sequence}`,
        headers,
        timeout: publishTimeout,
      });
    } catch (error) {
      throw toMessagingError(error, `dead-lettering message ${entry.message.id} of queue ${entry.queue}`);
    }
  }

  async list(options: { readonly queue?: string; readonly limit?: number } = {}): Promise<DeadLetter[]> {
    this.#context.assertOpen();
    const limit = options.limit ?? defaultLimit;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `limit must be a whole number from 1, got ${limit}`,
      );
    }
    const letters: DeadLetter[] = [];
    for await (const stored of this.#scan(this.#subjectOf(options.queue))) {
      letters.push(this.#toDeadLetter(stored));
      if (letters.length >= limit) break;
    }
    return letters;
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    this.#context.assertOpen();
    const stored = await this.#stored(id);
    return stored === undefined ? undefined : this.#toDeadLetter(stored);
  }

  async replay(selection: DeadLetterSelection): Promise<number> {
    this.#context.assertOpen();
    let replayed = 0;
    for await (const stored of this.#selected(selection)) {
      await this.#replayOne(stored);
      replayed += 1;
    }
    return replayed;
  }

  async purge(selection: DeadLetterSelection): Promise<number> {
    this.#context.assertOpen();
    if ("queue" in selection && selection.queue !== undefined) {
      const subject = this.#subjectOf(selection.queue);
      try {
        const response = await this.#context.jsm.streams.purge(this.#context.stream, { filter: subject });
        return response.purged;
      } catch (error) {
        throw toMessagingError(error, `purging the dead letters of ${selection.queue}`);
      }
    }
    let purged = 0;
    for (const id of this.#ids(selection)) {
      const sequence = sequenceOf(id);
      if (sequence !== undefined && (await this.#delete(sequence))) purged += 1;
    }
    return purged;
  }

  async #replayOne(stored: StoredMsg): Promise<void> {
    const letter = this.#toDeadLetter(stored);
    const { js, subjects, publishTimeout } = this.#context;
    const headers = natsHeadersOf(letter.message, {
      [NatsHeader.Id]: letter.message.id,
      [NatsHeader.Topic]: letter.message.topic,
    });
    try {
      await js.publish(subjects.replaySubject(letter.queue), letter.message.body, {
        msgID: `${letter.message.id}:replay:${stored.seq}`,
        headers,
        timeout: publishTimeout,
      });
    } catch (error) {
      throw toMessagingError(error, `replaying dead letter ${letter.id} to ${letter.queue}`);
    }
    await this.#delete(stored.seq);
  }

  async *#selected(selection: DeadLetterSelection): AsyncGenerator<StoredMsg> {
    if ("queue" in selection && selection.queue !== undefined) {
      yield* this.#scan(this.#subjectOf(selection.queue));
      return;
    }
    for (const id of this.#ids(selection)) {
      const stored = await this.#stored(id);
      if (stored !== undefined) yield stored;
    }
  }

  #ids(selection: DeadLetterSelection): readonly string[] {
    const ids = (selection as { ids?: unknown }).ids;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        "a dead-letter selection needs ids (an array of strings) or a queue",
      );
    }
    return ids as string[];
  }

  #subjectOf(queue: string | undefined): string {
    if (queue === undefined) return this.#context.subjects.allDeadLetters;
    assertTopic(queue, "queue");
    return this.#context.subjects.deadLetterSubject(queue);
  }

  /** The dead letters on `subject`, oldest first, one request each. */
  async *#scan(subject: string): AsyncGenerator<StoredMsg> {
    const { jsm, stream } = this.#context;
    let seq = 1;
    for (;;) {
      let stored: StoredMsg | null;
      try {
        // JetStream 2.9 answers `next_by_subj` on this API; the client's type lists only `seq`.
        const request = { seq, next_by_subj: subject } as SeqMsgRequest;
        stored = await jsm.streams.getMessage(stream, request);
      } catch (error) {
        throw toMessagingError(error, "reading dead letters");
      }
      if (stored === null) return;
      yield stored;
      seq = stored.seq + 1;
    }
  }

  async #stored(id: string): Promise<StoredMsg | undefined> {
    const seq = sequenceOf(id);
    if (seq === undefined) return undefined;
    try {
      return (await this.#context.jsm.streams.getMessage(this.#context.stream, { seq })) ?? undefined;
    } catch (error) {
      throw toMessagingError(error, `reading dead letter ${id}`);
    }
  }

  async #delete(seq: number): Promise<boolean> {
    try {
      return await this.#context.jsm.streams.deleteMessage(this.#context.stream, seq);
    } catch (error) {
      if (
        error instanceof JetStreamApiError &&
        (error.code === JetStreamApiCodes.NoMessageFound || error.code === sequenceNotFound)
      ) {
        return false;
      }
      throw toMessagingError(error, `deleting dead letter ${seq}`);
    }
  }

  #toDeadLetter(stored: StoredMsg): DeadLetter {
    const { header } = stored;
    const prefix = this.#context.subjects.deadLetterSubject("");
    const queue = headerValue(header, NatsHeader.Queue) ?? stored.subject.slice(prefix.length);
    const at = Date.parse(headerValue(header, NatsHeader.DeadLetteredAt) ?? "");
    return {
      id: String(stored.seq),
      queue,
      message: transportMessageOf(
        headerValue(header, NatsHeader.Topic) ?? "",
        header,
        stored.data,
        String(stored.seq),
      ),
      reason: {
        code: (headerValue(header, NatsHeader.ReasonCode) ?? "") as DeadLetterCode,
        message: headerValue(header, NatsHeader.Reason) ?? "",
      },
      attempts: Number(headerValue(header, NatsHeader.Attempts) ?? 0),
      deadLetteredAt: Number.isNaN(at) ? stored.time : new Date(at),
    };
  }
}

/** The stream sequence an id names, or `undefined` for anything that is not one. */
function sequenceOf(id: string): number | undefined {
  if (typeof id !== "string" || !/^[1-9]\d{0,15}$/.test(id)) return undefined;
  return Number(id);
}
