import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import {
  DeadLetterCode,
  type DeadLetterReason,
  type Delivery,
  type TransportMessage,
} from "../../transport/transport.js";

/** What a {@link MemoryDelivery} does once it is settled; each call happens at most once. */
export interface DeliverySettler {
  ack(): void;
  retry(delayMs: number, error: string): void;
  deadLetter(reason: DeadLetterReason): void;
  /** A second settle call: reported, not acted on. */
  alreadySettled(attempted: string, settledBy: string): void;
}

const deadLetterCodes: ReadonlySet<string> = new Set(Object.values(DeadLetterCode));

function invalid(message: string): MessagingError {
  return new MessagingError(MessagingErrorCode.ConfigInvalid, message);
}

/** One delivery of a {@link MemoryTransport}: the first settle call wins, later ones are ignored and logged. */
export class MemoryDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly attempt: number;
  readonly #settler: DeliverySettler;
  #settledBy: string | undefined;

  constructor(message: TransportMessage, attempt: number, settler: DeliverySettler) {
    this.message = message;
    this.attempt = attempt;
    this.#settler = settler;
  }

  /** True once `ack`, `retry` or `deadLetter` succeeded. */
  get settled(): boolean {
    return this.#settledBy !== undefined;
  }

  async ack(): Promise<void> {
    this.#settle("ack", () => this.#settler.ack());
  }

  async retry(delayMs: number, error: string): Promise<void> {
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw invalid(`retry: delayMs must be a finite number of at least 0, got ${String(delayMs)}`);
    }
    this.#settle("retry", () => this.#settler.retry(delayMs, String(error)));
  }

  async deadLetter(reason: DeadLetterReason): Promise<void> {
    if (typeof reason !== "object" || reason === null || !deadLetterCodes.has(reason.code)) {
      throw invalid(`deadLetter: reason.code must be one of ${[...deadLetterCodes].join(", ")}`);
    }
    if (typeof reason.message !== "string") throw invalid("deadLetter: reason.message must be a string");
    this.#settle("deadLetter", () =>
      this.#settler.deadLetter({ code: reason.code, message: reason.message }),
    );
  }

  #settle(how: string, action: () => void): void {
    if (this.#settledBy !== undefined) {
      this.#settler.alreadySettled(how, this.#settledBy);
      return;
    }
    action();
    this.#settledBy = how;
  }
}
