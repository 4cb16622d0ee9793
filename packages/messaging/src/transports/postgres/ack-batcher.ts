import type { MessagingLogger } from "../../messaging-logger.js";
import type { BusStore, ClaimToken } from "./bus-store.js";
import { databaseError } from "./connection-error.js";

interface PendingAck {
  readonly token: ClaimToken;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit for acks: one DELETE is in flight at a time, and every ack that arrives meanwhile
 * goes into the next one, so under load a single round trip and commit settles many messages while
 * a lone ack still goes out at once.
 */
export class AckBatcher {
  readonly #store: BusStore;
  readonly #logger: MessagingLogger;
  #pending: PendingAck[] = [];
  #flushing: Promise<void> | undefined;

  constructor(store: BusStore, logger: MessagingLogger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Deletes the claimed message; resolves once committed (also when the claim had been lost). */
  ack(token: ClaimToken): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ token, resolve, reject });
      this.#flushing ??= this.#drain();
    });
  }

  /** Resolves when every ack given so far has been written or has failed. */
  async idle(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  async #drain(): Promise<void> {
    // Let the acks of handlers finishing in this same turn join the first batch.
    await Promise.resolve();
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        const deleted = await this.#store.ack(batch.map((p) => p.token));
        if (deleted < batch.length) {
          this.#logger.warn(
            { acked: batch.length, deleted },
            "postgres transport: acked messages whose claim had run out; they may be delivered again",
          );
        }
        for (const p of batch) p.resolve();
      } catch (error) {
        const failure = databaseError("ack", error);
        for (const p of batch) p.reject(failure);
      }
    }
    this.#flushing = undefined;
  }
}
