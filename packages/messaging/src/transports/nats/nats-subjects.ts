import { createHash } from "node:crypto";

/**
 * Where the NATS transport puts things: topic `a.b` is subject `<prefix>.a.b` in the main stream,
 * a replay to queue `q` is `<prefix>_replay.q` (also in the main stream, so that only `q`'s own
 * consumer receives it), and `q`'s dead letters are `<prefix>_dlq.q` in the dead-letter stream.
 */
export class NatsSubjects {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** The subjects of the main stream. */
  get streamSubjects(): string[] {
    return [`${this.prefix}.>`, `${this.prefix}_replay.>`];
  }

  /** The subjects of the dead-letter stream. */
  get deadLetterSubjects(): string[] {
    return [`${this.prefix}_dlq.>`];
  }

  topicSubject(topic: string): string {
    return `${this.prefix}.${topic}`;
  }

  /** The topic of a subject from {@link topicSubject}; `undefined` for any other subject. */
  topicOf(subject: string): string | undefined {
    const start = `${this.prefix}.`;
    return subject.startsWith(start) ? subject.slice(start.length) : undefined;
  }

  /**
   * The subject filters that together match an (already validated) topic pattern: `*` stays `*`;
   * a trailing `#` becomes `>` plus the bare subject, since `a.#` also matches `a`.
   */
  patternFilters(pattern: string): string[] {
    const words = pattern.split(".");
    if (words.at(-1) !== "#") return [this.topicSubject(pattern)];
    const base = words.slice(0, -1).join(".");
    if (base === "") return [`${this.prefix}.>`];
    return [`${this.prefix}.${base}.>`, this.topicSubject(base)];
  }

  replaySubject(queue: string): string {
    return `${this.prefix}_replay.${queue}`;
  }

  deadLetterSubject(queue: string): string {
    return `${this.prefix}_dlq.${queue}`;
  }

  /** Every dead letter, of all queues. */
  get allDeadLetters(): string {
    return `${this.prefix}_dlq.>`;
  }

  /**
   * The durable consumer name of `queue` for one subject filter: the queue made a valid consumer
   * name (no `.`), and a hash of queue and filter, which keeps names distinct and stable.
   */
  consumerName(queue: string, filter: string): string {
    const readable = queue.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40);
    const hash = createHash("sha256").update(`${queue}\n${filter}`).digest("hex").slice(0, 12);
    return `${readable}_${hash}`;
  }
}

/** True when NATS subject filter `filter` (with `*` and `>`) matches the literal `subject`. */
export function subjectMatches(filter: string, subject: string): boolean {
  const wanted = filter.split(".");
  const tokens = subject.split(".");
  for (let index = 0; index < wanted.length; index++) {
    const word = wanted[index];
    if (word === ">") return tokens.length > index;
    if (index >= tokens.length) return false;
    if (word !== "*" && word !== tokens[index]) return false;
  }
  return tokens.length === wanted.length;
}
