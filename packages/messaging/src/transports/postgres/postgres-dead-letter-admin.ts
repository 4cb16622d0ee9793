import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { DeadLetter, DeadLetterAdmin, DeadLetterSelection } from "../../transport/transport.js";
import type { BusStore } from "./bus-store.js";
import { databaseError } from "./connection-error.js";

const bigintId = /^[1-9][0-9]{0,18}$/;

/**
 * The {@link DeadLetterAdmin} over the `dead_letters` table. Ids are the table's primary key as a
 * decimal string; an id that cannot be one matches nothing. A replay moves the rows back into
 * `messages` of their queue as first attempts in one statement, so a message is never in both
 * tables or in neither.
 */
export class PostgresDeadLetterAdmin implements DeadLetterAdmin {
  readonly #store: BusStore;
  readonly #assertOpen: (what: string) => void;

  /** `assertOpen` throws once the transport is closed. */
  constructor(store: BusStore, assertOpen: (what: string) => void) {
    this.#store = store;
    this.#assertOpen = assertOpen;
  }

  async list(options: { readonly queue?: string; readonly limit?: number } = {}): Promise<DeadLetter[]> {
    this.#assertOpen("deadLetters.list");
    const { queue, limit = 100 } = options ?? {};
    if (queue !== undefined && (typeof queue !== "string" || queue.length === 0)) {
      throw invalid(`deadLetters.list: queue must be a non-empty string, got ${JSON.stringify(queue)}`);
    }
    if (!Number.isInteger(limit) || limit < 1) {
      throw invalid(`deadLetters.list: limit must be a whole number from 1, got ${String(limit)}`);
    }
    return this.#run("deadLetters.list", () => this.#store.listDeadLetters(queue, limit));
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    this.#assertOpen("deadLetters.get");
    if (typeof id !== "string" || !bigintId.test(id)) return undefined;
    return this.#run("deadLetters.get", () => this.#store.getDeadLetter(id));
  }

  async replay(selection: DeadLetterSelection): Promise<number> {
    this.#assertOpen("deadLetters.replay");
    const checked = checkSelection(selection, "deadLetters.replay");
    if ("ids" in checked && checked.ids.length === 0) return 0;
    return this.#run("deadLetters.replay", () => this.#store.replayDeadLetters(checked));
  }

  async purge(selection: DeadLetterSelection): Promise<number> {
    this.#assertOpen("deadLetters.purge");
    const checked = checkSelection(selection, "deadLetters.purge");
    if ("ids" in checked && checked.ids.length === 0) return 0;
    return this.#run("deadLetters.purge", () => this.#store.purgeDeadLetters(checked));
  }

  async #run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw databaseError(what, error);
    }
  }
}

function checkSelection(
  selection: DeadLetterSelection,
  what: string,
): { ids: readonly string[] } | { queue: string } {
  if (typeof selection === "object" && selection !== null) {
    if ("ids" in selection && Array.isArray(selection.ids)) {
      const bad = selection.ids.find((id) => typeof id !== "string");
      if (bad !== undefined) throw invalid(`${what}: ids must be strings, got ${JSON.stringify(bad)}`);
      return { ids: selection.ids.filter((id) => bigintId.test(id)) };
    }
    if ("queue" in selection && typeof selection.queue === "string" && selection.queue.length > 0) {
      return { queue: selection.queue };
    }
  }
  throw invalid(`${what}: expected { ids: string[] } or { queue: string }, got ${JSON.stringify(selection)}`);
}

function invalid(message: string): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, message);
}
