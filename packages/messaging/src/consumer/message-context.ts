import type { PoolClient } from "pg";
import type { MessagingLogger } from "../messaging-logger.js";
import type { TransportMessage } from "../transport/transport.js";

/** What a handler gets beside the event. */
export interface MessageContext {
  /**
   * The client of the inbox transaction when the consumer has a `db`: write the handler's effects
   * with it so they commit together with the inbox record (exactly once) or roll back with it.
   * `undefined` without a `db`. Only these effects are exactly once: a handler may run again for
   * the same message (a lost commit, a batch re-run after another handler failed), so anything
   * else it does (HTTP calls, in-memory state) must tolerate repetition.
   */
  readonly tx: PoolClient | undefined;
  /** 1 for the first delivery, counting retries and redeliveries. */
  readonly attempt: number;
  /** The consumer's logger, bound to the message (`consumer`, `messageId`, `type`) when it has `child`. */
  readonly logger: MessagingLogger;
  /** Aborted when the consumer is closing: a long handler should stop and throw, to be retried. */
  readonly signal: AbortSignal;
  /** The message as the transport delivered it (topic, key, headers, raw body). */
  readonly message: TransportMessage;
}
