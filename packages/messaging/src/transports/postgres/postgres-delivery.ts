import type { DeadLetterReason, Delivery, TransportMessage } from "../../transport/transport.js";
import type { ClaimedRow, ClaimToken } from "./bus-store.js";

/** How a {@link PostgresDelivery} settles: the subscription that claimed it. */
export interface DeliverySettler {
  ack(token: ClaimToken): Promise<void>;
  retry(token: ClaimToken, delayMs: number, error: string): Promise<void>;
  deadLetter(token: ClaimToken, reason: DeadLetterReason): Promise<void>;
  /** A second settlement of one delivery; it changes nothing. */
  settledTwice(token: ClaimToken, how: string): void;
}

/** One claimed message row handed to a handler; the first settlement wins, later ones are ignored. */
export class PostgresDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly attempt: number;
  /** The claim this delivery settles. */
  readonly token: ClaimToken;
  readonly #settler: DeliverySettler;
  #settled = false;

  constructor(row: ClaimedRow, settler: DeliverySettler) {
    this.message = {
      id: row.id,
      topic: row.topic,
      ...(row.key === null ? {} : { key: row.key }),
      ...(row.headers === null ? {} : { headers: row.headers }),
      body: row.body,
    };
    this.attempt = row.attempts;
    this.token = { seq: row.seq, attempts: row.attempts };
    this.#settler = settler;
  }

  /** Whether `ack`, `retry` or `deadLetter` has been called. */
  get settled(): boolean {
    return this.#settled;
  }

  ack(): Promise<void> {
    if (!this.#claim("ack")) return Promise.resolve();
    return this.#settler.ack(this.token);
  }

  retry(delayMs: number, error: string): Promise<void> {
    if (!this.#claim("retry")) return Promise.resolve();
    const delay = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    return this.#settler.retry(this.token, delay, String(error));
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.#claim("deadLetter")) return Promise.resolve();
    return this.#settler.deadLetter(this.token, reason);
  }

  #claim(how: string): boolean {
    if (this.#settled) {
      this.#settler.settledTwice(this.token, how);
      return false;
    }
    this.#settled = true;
    return true;
  }
}
