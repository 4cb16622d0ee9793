import type { Dispatcher } from "undici";

/** What an {@link HttpExchange} resolves with: the status, the two headers the client reads, and the body. */
export interface ExchangeResult {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/** The response body grew past the limit; the exchange aborts with it, and the transport reports a bad response. */
export class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`the response body is larger than ${limit} bytes`);
    this.name = "ResponseTooLargeError";
  }
}

/**
 * One request and its response through undici's `dispatch`, collecting the body in memory: the
 * handler API spares the stream that `request()` wraps every body in, which is most of what a
 * small JSON call costs the caller. One object per attempt is the handler, the listener on the
 * attempt's signal (its `handleEvent`) and the source of the promise.
 *
 * An abort of the signal rejects at once with its reason, also when the request is still queued
 * in the pool (where undici can only abort it once it starts).
 */
export class HttpExchange implements Dispatcher.DispatchHandler {
  /** Settles when the response has ended, failed, or the signal aborted. */
  readonly promise: Promise<ExchangeResult>;
  readonly #signal: AbortSignal | undefined;
  readonly #maxBytes: number;
  #resolve!: (result: ExchangeResult) => void;
  #reject!: (error: unknown) => void;
  #controller: Dispatcher.DispatchController | undefined = undefined;
  #settled = false;
  #status = 0;
  #headers: Record<string, string | string[] | undefined> | undefined = undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(signal: AbortSignal | undefined, maxBytes: number) {
    this.#signal = signal;
    this.#maxBytes = maxBytes;
    this.promise = new Promise<ExchangeResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (signal !== undefined) {
      if (signal.aborted) this.#fail(signal.reason);
      else signal.addEventListener("abort", this);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#settled) {
      controller.abort(this.#signal?.reason instanceof Error ? this.#signal.reason : new Error("aborted"));
      return;
    }
    // A request retried at the head of a pipeline starts over.
    this.#chunks = [];
    this.#bytes = 0;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.#status = statusCode;
    this.#headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      controller.abort(new ResponseTooLargeError(this.#maxBytes));
      return;
    }
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.#settled) return;
    this.#settle();
    const chunks = this.#chunks;
    const headers = this.#headers;
    this.#resolve({
      status: this.#status,
      contentType: headers === undefined ? undefined : first(headers["content-type"]),
      retryAfter: headers === undefined || this.#status < 300 ? undefined : first(headers["retry-after"]),
      body:
        chunks.length === 0
          ? ""
          : chunks.length === 1
            ? chunks[0]!.toString("utf8")
            : Buffer.concat(chunks, this.#bytes).toString("utf8"),
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#fail(error);
  }

  /** The listener on the attempt's signal. */
  handleEvent(): void {
    const reason: unknown = this.#signal?.reason;
    this.#fail(reason);
    this.#controller?.abort(reason instanceof Error ? reason : new Error(String(reason)));
  }

  #fail(error: unknown): void {
    if (this.#settled) return;
    this.#settle();
    this.#reject(error);
  }

  #settle(): void {
    this.#settled = true;
    this.#signal?.removeEventListener("abort", this);
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
