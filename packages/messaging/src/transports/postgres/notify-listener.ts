import type { Backoff, Clock, TimerHandle } from "@flotilla/resilience";
import pg from "pg";
import type { MessagingLogger } from "../../messaging-logger.js";

/** What a {@link NotifyListener} needs. */
export interface NotifyListenerOptions {
  /** Connection settings of the dedicated LISTEN connection. */
  readonly connection: pg.ClientConfig;
  readonly channel: string;
  /** Called with each notification's payload. */
  readonly onNotify: (payload: string) => void;
  /** Called after a reconnect, since notifications sent while disconnected are lost. */
  readonly onReconnect: () => void;
  readonly backoff: Backoff;
  readonly logger: MessagingLogger;
  readonly clock: Clock;
}

/**
 * Holds one dedicated connection that LISTENs on the bus channel, and re-establishes it with
 * back-off whenever it fails, until closed.
 */
export class NotifyListener {
  readonly #options: NotifyListenerOptions;
  /** The connection of the latest attempt; events of older ones are ignored. */
  #current: pg.Client | undefined;
  #client: pg.Client | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #closed = false;
  #connecting: Promise<void> | undefined;

  constructor(options: NotifyListenerOptions) {
    this.#options = options;
  }

  /** Whether the LISTEN connection is up now. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Connects and listens; on failure logs and keeps retrying in the background. Never rejects. */
  start(): Promise<void> {
    this.#connecting = this.#connect();
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const { connection, channel, logger } = this.#options;
    if (this.#closed) return;
    const client = new pg.Client(connection);
    this.#current = client;
    client.on("error", (error) => {
      logger.warn({ err: error, channel }, "postgres transport: LISTEN connection failed");
    });
    client.on("notification", (message) => {
      if (message.channel === channel && message.payload !== undefined)
        this.#options.onNotify(message.payload);
    });
    client.on("end", () => {
      if (this.#current !== client) return;
      this.#client = undefined;
      this.#scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      this.#scheduleReconnect(error);
      await client.end().catch(() => {});
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    if (this.#failures > 0) {
      logger.info(
        { channel, failures: this.#failures },
        "postgres transport: LISTEN connection re-established",
      );
      this.#failures = 0;
      this.#options.onReconnect();
    }
  }

  #scheduleReconnect(error?: unknown): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#failures += 1;
    const delay = this.#options.backoff(this.#failures, undefined, 0);
    this.#options.logger.warn(
      { err: error, channel: this.#options.channel, failures: this.#failures, delayMs: Math.round(delay) },
      "postgres transport: no LISTEN connection; reconnecting",
    );
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#connecting = this.#connect();
    }, delay);
  }

  /** Stops listening and reconnecting; closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    this.#current = undefined;
    await client?.end().catch(() => {});
  }
}
