import type { Connection } from "rabbitmq-client";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";

/**
 * Follows one `rabbitmq-client` connection (up, down, blocked) so that publishers can wait for it
 * with a bound, all sharing one listener however many wait at once.
 */
export class RabbitMqConnectionState {
  readonly connection: Connection;
  #blocked = false;
  #lastError: unknown;
  #reconnected: Promise<void> | undefined;
  #resolveReconnected: (() => void) | undefined;

  constructor(connection: Connection) {
    this.connection = connection;
    connection.on("connection", () => {
      this.#blocked = false;
      this.#lastError = undefined;
      this.#resolveReconnected?.();
      this.#reconnected = undefined;
      this.#resolveReconnected = undefined;
    });
    connection.on("error", (error: unknown) => {
      this.#lastError = error;
    });
    connection.on("connection.blocked", () => {
      this.#blocked = true;
    });
    connection.on("connection.unblocked", () => {
      this.#blocked = false;
    });
  }

  /** Connected (the broker may still be blocking publishes; sends then wait in memory). */
  get up(): boolean {
    return this.connection.ready || this.#blocked;
  }

  /** Resolves once connected; rejects with `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` after `timeoutMs`. */
  async waitUntilUp(timeoutMs: number): Promise<void> {
    if (this.up) return;
    this.#reconnected ??= new Promise<void>((resolve) => {
      this.#resolveReconnected = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), timeoutMs);
    });
    const outcome = await Promise.race([this.#reconnected, expired]).finally(() => clearTimeout(timer));
    if (outcome !== "expired") return;
    const last = this.#lastError;
    throw new MessagingError(
      MessagingErrorCode.TransportUnavailable,
      `RabbitMQ is unreachable: not connected within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ""}`,
      { cause: last },
    );
  }
}
