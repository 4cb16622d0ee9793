import type { ServerResponse } from "node:http";
import type { Clock, TimerHandle } from "@flotilla/resilience";
import { HttpProblem, ServerProblemCode } from "./http-problem.js";
import { EncodedEvents, SseStream, type SseStreamOptions, type StreamResult } from "./sse-stream.js";

/** What the hub does with a stream, whatever its result type. */
type HubStream = Pick<SseStream, "flush" | "ping" | "close">;

/** What {@link SseHub} needs. */
export interface SseHubOptions {
  readonly clock: Clock;
  /** Streams allowed at once; one more answers 429. */
  readonly max: number;
  /** Time between `: ping` comments. */
  readonly pingIntervalMs: number;
  /** Bytes a client may leave unread before it is dropped. */
  readonly maxBufferedBytes: number;
}

/** The open SSE streams: their limit, one shared ping timer, and closing them all. */
export class SseHub {
  readonly #options: SseHubOptions;
  readonly #streams = new Set<HubStream>();
  #pingTimer: TimerHandle | undefined;
  #closed = false;
  /** Streams with a change to send at the end of this event-loop turn. */
  #pending: HubStream[] = [];

  constructor(options: SseHubOptions) {
    this.#options = options;
  }

  /** Streams now open. */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * Opens a stream on `res` and starts it (snapshot unless `sinceIndex` is current). Throws a 429
   * {@link HttpProblem} at the limit, and a 503 one after {@link SseHub.close}.
   */
  open<R extends StreamResult>(
    res: ServerResponse,
    stream: Pick<SseStreamOptions<R>, "render" | "subscribe" | "diff">,
    sinceIndex: number | undefined,
  ): SseStream<R> {
    if (this.#closed) throw HttpProblem.unavailable("the server is closing", ServerProblemCode.ShuttingDown);
    if (this.#streams.size >= this.#options.max) {
      throw HttpProblem.limit(429, `${this.#options.max} event streams are already open`, 1000);
    }
    const sse = new SseStream<R>(res, {
      ...stream,
      maxBufferedBytes: this.#options.maxBufferedBytes,
      onClose: (s) => {
        this.#streams.delete(s);
        if (this.#streams.size === 0) this.#stopPings();
      },
      schedule: (s) => {
        if (this.#pending.push(s) === 1) setImmediate(this.#flush);
      },
    });
    this.#streams.add(sse);
    sse.start(sinceIndex);
    this.#startPings();
    return sse;
  }

  readonly #flush = (): void => {
    const pending = this.#pending;
    this.#pending = [];
    const encoded = new EncodedEvents();
    for (const stream of pending) stream.flush(encoded);
  };

  /** Ends every stream and stops the pings. */
  close(): void {
    this.#closed = true;
    this.#stopPings();
    for (const stream of [...this.#streams]) stream.close();
  }

  #startPings(): void {
    if (this.#pingTimer !== undefined || this.#closed) return;
    const tick = (): void => {
      for (const stream of [...this.#streams]) stream.ping();
      this.#pingTimer =
        this.#streams.size === 0
          ? undefined
          : this.#options.clock.setTimeout(tick, this.#options.pingIntervalMs, true);
    };
    this.#pingTimer = this.#options.clock.setTimeout(tick, this.#options.pingIntervalMs, true);
  }

  #stopPings(): void {
    if (this.#pingTimer === undefined) return;
    this.#options.clock.clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
  }
}
