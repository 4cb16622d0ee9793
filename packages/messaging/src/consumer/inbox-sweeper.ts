import type { Clock, TimerHandle } from "@flotilla/resilience";
import type { Inbox } from "../inbox/inbox.js";
import type { Queryable } from "../inbox/queryable.js";
import type { MessagingLogger } from "../messaging-logger.js";

/** What an {@link InboxSweeper} needs. */
export interface InboxSweeperOptions {
  readonly inbox: Inbox;
  readonly db: Queryable;
  /** Records older than this many milliseconds are deleted. */
  readonly olderThanMs: number;
  /** Milliseconds between sweeps. */
  readonly everyMs: number;
  readonly clock: Clock;
  readonly logger: MessagingLogger;
  readonly consumer: string;
}

/**
 * Runs {@link Inbox.sweep} every `everyMs` on an unref'd timer (it never keeps the process alive)
 * until stopped. A failed sweep is logged and tried again at the next interval.
 */
export class InboxSweeper {
  readonly #o: InboxSweeperOptions;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: InboxSweeperOptions) {
    this.#o = options;
  }

  /** Schedules the first sweep one interval from now. */
  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = this.#o.clock.setTimeout(() => this.#sweep(), this.#o.everyMs, true);
  }

  /** Cancels the next sweep and waits for one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#running = this.#o.inbox
      .sweep(this.#o.db, this.#o.olderThanMs)
      .then(
        (deleted) => {
          this.#o.logger.debug({ consumer: this.#o.consumer, deleted }, "inbox swept");
        },
        (error: unknown) => {
          this.#o.logger.warn({ consumer: this.#o.consumer, err: error }, "inbox sweep failed");
        },
      )
      .finally(() => {
        this.#running = undefined;
        this.start();
      });
  }
}
