import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type {
  DeadLetter,
  DeadLetterAdmin,
  DeadLetterSelection,
  TransportMessage,
} from "../../transport/transport.js";

/** What {@link MemoryDeadLetters} needs from its transport. */
export interface MemoryDeadLettersPorts {
  /** Throws `FLT_MESSAGING_CLOSED` once the transport is closed. */
  assertOpen(): void;
  /** Puts `message` back into `queue` as a new first attempt. */
  requeue(queue: string, message: TransportMessage): void;
}

const defaultLimit = 100;

function invalid(message: string): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, `dead letters: ${message}`);
}

/** The dead-letter queues of a {@link MemoryTransport}: kept in memory, oldest first, ids `1`, `2`, … */
export class MemoryDeadLetters implements DeadLetterAdmin {
  readonly #letters = new Map<string, DeadLetter>();
  readonly #ports: MemoryDeadLettersPorts;
  #sequence = 0;

  constructor(ports: MemoryDeadLettersPorts) {
    this.#ports = ports;
  }

  /** Stores a dead letter and returns it with its new id. */
  add(letter: Omit<DeadLetter, "id">): DeadLetter {
    this.#sequence += 1;
    const stored: DeadLetter = Object.freeze({ ...letter, id: String(this.#sequence) });
    this.#letters.set(stored.id, stored);
    return stored;
  }

  async list(options: { readonly queue?: string; readonly limit?: number } = {}): Promise<DeadLetter[]> {
    this.#ports.assertOpen();
    const { queue, limit = defaultLimit } = options;
    if (queue !== undefined && typeof queue !== "string") throw invalid("list: queue must be a string");
    if (!Number.isInteger(limit) || limit < 1) {
      throw invalid(`list: limit must be a whole number of at least 1, got ${String(limit)}`);
    }
    const found: DeadLetter[] = [];
    for (const letter of this.#letters.values()) {
      if (found.length >= limit) break;
      if (queue === undefined || letter.queue === queue) found.push(letter);
    }
    return found;
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    this.#ports.assertOpen();
    return this.#letters.get(id);
  }

  async replay(selection: DeadLetterSelection): Promise<number> {
    this.#ports.assertOpen();
    const chosen = this.#select(selection);
    for (const letter of chosen) {
      this.#letters.delete(letter.id);
      this.#ports.requeue(letter.queue, letter.message);
    }
    return chosen.length;
  }

  async purge(selection: DeadLetterSelection): Promise<number> {
    this.#ports.assertOpen();
    const chosen = this.#select(selection);
    for (const letter of chosen) this.#letters.delete(letter.id);
    return chosen.length;
  }

  #select(selection: DeadLetterSelection): DeadLetter[] {
    if (typeof selection === "object" && selection !== null) {
      if ("ids" in selection && Array.isArray(selection.ids)) {
        if (!selection.ids.every((id) => typeof id === "string")) throw invalid("ids must be strings");
        return [...new Set(selection.ids)].flatMap((id) => this.#letters.get(id) ?? []);
      }
      if ("queue" in selection && typeof selection.queue === "string") {
        return [...this.#letters.values()].filter((letter) => letter.queue === selection.queue);
      }
    }
    throw invalid("select dead letters with { ids: string[] } or { queue: string }");
  }
}
