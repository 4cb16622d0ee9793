import type { Envelope } from "../envelope/envelope.js";
import type { Queryable } from "../inbox/queryable.js";

/**
 * Where a consumer sends the messages its handlers produce (a command's reply). With an outbox it
 * writes them in the handler's transaction; without, they are published after the commit.
 */
export interface EnvelopeSink {
  /** The CloudEvents `source` of the messages the consumer produces. */
  readonly source: string;
  /** Sends `envelope` on `topic`, exactly once with the handler's effects when there is an outbox. */
  publish(envelope: Envelope, topic: string): Promise<void>;
}

/**
 * The part of an outbox a consumer needs: writing a prebuilt envelope in a transaction. The
 * `Outbox` of `@flotilla/messaging` fits as it is.
 */
export interface EnvelopeOutbox {
  publishEnvelope(tx: Queryable, envelope: Envelope, topic: string): Promise<unknown>;
}
