import { sleep } from "@flotilla/resilience";
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { MessagingLogger } from "../../messaging-logger.js";

/** What one {@link NatsPullLoop} pulls from and hands its messages to. */
export interface NatsPullLoopOptions {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly consumer: string;
  /** Most messages of this loop unfinished at once: it fetches only what is free. */
  readonly prefetch: number;
  /** Creates or updates the durable consumer; called before the first fetch and after a failure. */
  readonly ensureConsumer: () => Promise<void>;
  /** Handles one message; the loop counts it as unfinished until the promise settles. */
  readonly onMessage: (message: JsMsg) => Promise<void>;
  readonly logger: MessagingLogger;
}

/** How long one pull request waits on the server; a fresh one follows, so a stalled pull heals. */
const fetchExpiresMs = 5_000;
const retryBackoffMs = [100, 250, 500, 1_000, 2_000];

/**
 * Pulls one durable consumer with bounded fetches, never more than the free share of `prefetch`.
 * A fetch lives at most a few seconds, so a pull lost to a cut connection is replaced soon; a
 * failing fetch (consumer or stream gone, no connection) is retried with backoff after
 * re-creating the consumer.
 */
export class NatsPullLoop {
  readonly #options: NatsPullLoopOptions;
  readonly #stopping = new AbortController();
  readonly #unfinished = new Set<Promise<void>>();
  #current: ConsumerMessages | undefined;
  #consumer: Consumer | undefined;
  #slotFreed: (() => void) | undefined;
  #done: Promise<void> | undefined;

  constructor(options: NatsPullLoopOptions) {
    this.#options = options;
  }

  start(): void {
    this.#done ??= this.#run();
  }

  /** Stops pulling; resolves when no fetch is open. Messages handed out keep running. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#slotFreed?.();
    await this.#current?.close().catch(() => undefined);
    await this.#done;
  }

  /** Resolves once every message this loop handed out has finished. */
  async drained(): Promise<void> {
    while (this.#unfinished.size > 0) await Promise.allSettled([...this.#unfinished]);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      await this.#freeSlot();
      if (this.#stopping.signal.aborted) return;
      try {
        await this.#fetchOnce();
        failures = 0;
      } catch (error) {
        if (this.#stopping.signal.aborted) return;
        this.#consumer = undefined;
        const wait = retryBackoffMs[Math.min(failures, retryBackoffMs.length - 1)]!;
        failures += 1;
        this.#options.logger.warn(
          { err: error, consumer: this.#options.consumer, stream: this.#options.stream, retryInMs: wait },
          "NATS pull failed; retrying",
        );
        await sleep(wait, undefined, this.#stopping.signal).catch(() => undefined);
      }
    }
  }

  async #fetchOnce(): Promise<void> {
    const consumer = await this.#getConsumer();
    const free = this.#options.prefetch - this.#unfinished.size;
    const messages = await consumer.fetch({ max_messages: free, expires: fetchExpiresMs });
    if (this.#stopping.signal.aborted) {
      // close() resolves only once the iteration has ended, so it is awaited after draining.
      const closing = messages.close();
      for await (const message of messages) message.nak();
      await closing;
      return;
    }
    this.#current = messages;
    try {
      for await (const message of messages) this.#track(this.#options.onMessage(message));
    } finally {
      this.#current = undefined;
    }
  }

  async #getConsumer(): Promise<Consumer> {
    if (this.#consumer === undefined) {
      await this.#options.ensureConsumer();
      this.#consumer = await this.#options.js.consumers.get(this.#options.stream, this.#options.consumer);
    }
    return this.#consumer;
  }

  #track(work: Promise<void>): void {
    const tracked = work.then(
      () => undefined,
      (error: unknown) => {
        this.#options.logger.error(
          { err: error, consumer: this.#options.consumer },
          "NATS message handling failed",
        );
      },
    );
    this.#unfinished.add(tracked);
    void tracked.then(() => {
      this.#unfinished.delete(tracked);
      this.#slotFreed?.();
    });
  }

  async #freeSlot(): Promise<void> {
    while (this.#unfinished.size >= this.#options.prefetch && !this.#stopping.signal.aborted) {
      await new Promise<void>((resolve) => {
        this.#slotFreed = resolve;
      });
      this.#slotFreed = undefined;
    }
  }
}
