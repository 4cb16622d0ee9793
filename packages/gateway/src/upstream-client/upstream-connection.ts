import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { ResponseParser } from "./response-parser.js";
import { UpstreamClientError, UpstreamClientErrorCode } from "./upstream-client-error.js";
import type { UpstreamHandler, UpstreamRequestOptions } from "./upstream-handler.js";

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The connection finished a response and can carry another request. */
  release(connection: UpstreamConnection): void;
  /** The connection is gone (closed, broken, upgraded). */
  remove(connection: UpstreamConnection): void;
  /** A request failed on a reused connection before the upstream saw it: send it on a fresh one. */
  redispatch(options: UpstreamRequestOptions, handler: UpstreamHandler): void;
}

const validHeaderValue = /^[^\r\n\0]*$/;
// Only these are sent again after a kept-alive connection closed without an answer: the upstream
// may have acted on the request before closing (RFC 9110 §9.2.2).
const idempotent = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * One keep-alive HTTP/1.1 connection to an upstream, carrying one request at a time: writes
 * the request head (and body, with backpressure, `chunked` when its length is unknown), parses
 * the response with {@link ResponseParser} and hands it to the request's {@link UpstreamHandler}
 * without buffering, pausing the socket while the handler's client is full.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  /** When the current request's head is due (`performance.now()` ms), 0 when not waiting. */
  headersDeadline = 0;
  /** When the next body byte is due, 0 when not reading a body. */
  bodyDeadline = 0;
  /** When it became idle, for the keep-alive timeout. */
  idleSince = 0;
  #owner: ConnectionOwner;
  #parser: ResponseParser;
  #handler: UpstreamHandler | undefined;
  #options: UpstreamRequestOptions | undefined;
  #bodyTimeout = 0;
  #keepAlive = true;
  #requestDone = true;
  #body: Readable | undefined;
  #used = false;
  #sentBytes = false;
  #dead = false;
  #upgrade: { status: number; headers: string[] } | undefined;
  readonly #readBuffer: Buffer | undefined;
  readonly #resume = (): void => {
    if (this.#handler !== undefined && this.headersDeadline === 0) {
      this.bodyDeadline = performance.now() + this.#bodyTimeout;
    }
    this.socket.resume();
  };
  readonly #abort = (error: Error): void => {
    this.#fail(error);
  };

  /**
   * `readBuffer`: the buffer the socket was connected to read into (`onread`), whose reads come
   * through {@link onRead}; without it, reads come as `data` events.
   */
  constructor(socket: Socket, owner: ConnectionOwner, readBuffer?: Buffer) {
    this.socket = socket;
    this.#owner = owner;
    this.#readBuffer = readBuffer;
    this.#parser = new ResponseParser({
      onHead: (status, headers, keepAlive) => this.#onHead(status, headers, keepAlive),
      onBody: (chunk) => this.#onBody(chunk),
      onEnd: (rest) => this.#onEnd(rest),
    });
    socket.setNoDelay(true);
    if (readBuffer === undefined) socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", (error: Error) => this.#onClose(error));
    socket.on("close", () => this.#onClose(undefined));
  }

  /** True while a request is in progress. */
  get busy(): boolean {
    return this.#handler !== undefined;
  }

  /** True once the socket is closed or broken. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Sends one request. */
  start(options: UpstreamRequestOptions, handler: UpstreamHandler, now: number): void {
    this.#handler = handler;
    this.#options = options;
    this.#keepAlive = true;
    this.#sentBytes = false;
    this.#bodyTimeout = options.bodyTimeout;
    this.headersDeadline = now + options.headersTimeout;
    this.bodyDeadline = 0;
    this.#parser.reset(options.method === "HEAD");
    handler.onConnect(this.#abort);
    if (this.#handler === undefined) return;
    let head = `${options.method} ${options.path} HTTP/1.1\r\n`;
    const headers = options.headers;
    let hasLength = options.hasContentLength === true;
    if (typeof headers === "string") head += headers;
    else {
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!;
        const value = headers[i + 1]!;
        if (!validHeaderValue.test(value)) {
          this.#fail(
            new UpstreamClientError(UpstreamClientErrorCode.BadResponse, `invalid value for header ${name}`, {
              unsent: true,
            }),
          );
          return;
        }
        if (name.length === 14 && name.toLowerCase() === "content-length") hasLength = true;
        head += `${name}: ${value}\r\n`;
      }
    }
    const body = options.body;
    if (options.upgrade !== undefined) head += `connection: upgrade\r\nupgrade: ${options.upgrade}\r\n`;
    else if (body !== null && !Buffer.isBuffer(body) && !hasLength) head += "transfer-encoding: chunked\r\n";
    head += "\r\n";
    const socket = this.socket;
    const wasUsed = this.#used;
    this.#used = true;
    if (body === null) {
      this.#requestDone = true;
      socket.write(head, "latin1");
    } else if (Buffer.isBuffer(body)) {
      this.#requestDone = true;
      socket.cork();
      socket.write(head, "latin1");
      socket.write(body);
      socket.uncork();
    } else {
      this.#requestDone = false;
      body.on("error", (error: Error) => {
        if (this.#handler === handler) this.#fail(error);
      });
      socket.write(head, "latin1");
      // Not a byte of the body is read before the connection stands: a refused connection leaves
      // the stream untouched, so the request can go to another instance.
      if (socket.connecting)
        socket.once("connect", () => this.#handler === handler && this.#streamBody(body, !hasLength));
      else this.#streamBody(body, !hasLength);
    }
    // Kept for a transparent resend should a reused connection turn out to have been closed.
    if (!wasUsed) this.#options = undefined;
  }

  #streamBody(body: Readable, chunked: boolean): void {
    this.#body = body;
    const socket = this.socket;
    const onDrain = (): void => {
      body.resume();
    };
    body.on("data", (chunk: Buffer) => {
      if (this.#body !== body) return;
      this.#sentBytes = true;
      let ok: boolean;
      if (chunked) {
        if (chunk.length === 0) return;
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
        socket.write(chunk);
        ok = socket.write("\r\n", "latin1");
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) {
        body.pause();
        socket.once("drain", onDrain);
      }
    });
    body.once("end", () => {
      if (this.#body !== body) return;
      if (chunked) socket.write("0\r\n\r\n", "latin1");
      this.#body = undefined;
      this.#requestDone = true;
    });
  }

  /** `bytes` were read into the connection's read buffer (a paused body stops reading in `#pause`). */
  onRead(bytes: number): boolean {
    this.#onData(this.#readBuffer!.subarray(0, bytes));
    return true;
  }

  #onData(chunk: Buffer): void {
    if (this.#handler === undefined) {
      // Bytes on an idle connection: the upstream broke the protocol; never reuse it.
      this.destroy();
      return;
    }
    try {
      this.#parser.execute(chunk);
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #onHead(status: number, headers: string[], keepAlive: boolean): void {
    this.headersDeadline = 0;
    this.#keepAlive = keepAlive;
    const handler = this.#handler!;
    if (status === 101) {
      // Handed over in #onEnd, which the parser calls next with the bytes that followed the head.
      this.#upgrade = { status, headers };
      return;
    }
    this.bodyDeadline = performance.now() + this.#bodyTimeout;
    if (!handler.onHeaders(status, headers, this.#resume)) this.#pause();
  }

  #onBody(chunk: Buffer): void {
    this.bodyDeadline = performance.now() + this.#bodyTimeout;
    if (!this.#handler!.onData(chunk)) this.#pause();
  }

  // A paused body is the client's doing, not the upstream's: no body deadline runs meanwhile.
  #pause(): void {
    this.socket.pause();
    this.bodyDeadline = 0;
  }

  #onEnd(rest: Buffer | undefined): void {
    const handler = this.#handler;
    if (handler === undefined) return;
    const upgrade = this.#upgrade;
    if (upgrade !== undefined) {
      this.#upgrade = undefined;
      this.#handler = undefined;
      this.#options = undefined;
      this.#dead = true;
      this.socket.removeAllListeners("data").removeAllListeners("close").removeAllListeners("error");
      this.#owner.remove(this);
      // Paused around the hand-over: the bytes that followed the head go back in front of the
      // socket's buffer and reach the new owner's listeners when it resumes.
      this.socket.pause();
      if (rest !== undefined) this.socket.unshift(rest);
      handler.onUpgrade(upgrade.status, upgrade.headers, this.socket);
      this.socket.resume();
      return;
    }
    this.#handler = undefined;
    this.#options = undefined;
    this.headersDeadline = 0;
    this.bodyDeadline = 0;
    const reusable =
      this.#keepAlive && this.#requestDone && rest === undefined && !this.#parser.readsUntilClose;
    if (this.#body !== undefined) {
      // The upstream answered before the request body was all sent: stop sending.
      this.#body = undefined;
    }
    handler.onComplete();
    if (reusable && !this.#dead) {
      this.socket.resume();
      this.#owner.release(this);
    } else this.destroy();
  }

  #onClose(error: Error | undefined): void {
    if (this.#dead && this.#handler === undefined) return;
    const handler = this.#handler;
    const wasDead = this.#dead;
    this.#dead = true;
    this.#owner.remove(this);
    // A body that runs until the connection closes ends here; the connection is gone either way.
    if (handler !== undefined && !wasDead && this.#parser.finish()) return;
    if (handler === undefined) return;
    const options = this.#options;
    this.#handler = undefined;
    this.#options = undefined;
    const unsent = this.#parser.idle && !this.#sentBytes;
    // A kept-alive connection the upstream closed just as we reused it: the request never reached
    // its application, so an idempotent one goes again on a fresh connection (as browsers do).
    if (
      options !== undefined &&
      unsent &&
      idempotent.has(options.method) &&
      (options.body === null || Buffer.isBuffer(options.body))
    ) {
      this.#owner.redispatch(options, handler);
      return;
    }
    if (
      error !== undefined &&
      (error as { code?: string }).code !== undefined &&
      !(error instanceof UpstreamClientError)
    ) {
      handler.onError(error);
      return;
    }
    handler.onError(
      error instanceof UpstreamClientError
        ? error
        : new UpstreamClientError(
            UpstreamClientErrorCode.SocketClosed,
            "the upstream closed the connection before the response was complete",
            {
              cause: error,
              unsent,
            },
          ),
    );
  }

  /** Ends the current request with `error` and drops the connection. */
  #fail(error: Error): void {
    const handler = this.#handler;
    this.#handler = undefined;
    this.#options = undefined;
    this.#body = undefined;
    this.headersDeadline = 0;
    this.bodyDeadline = 0;
    this.destroy();
    handler?.onError(error);
  }

  /** Fails the current request because a deadline passed. */
  timeout(
    code: typeof UpstreamClientErrorCode.HeadersTimeout | typeof UpstreamClientErrorCode.BodyTimeout,
  ): void {
    this.#fail(
      new UpstreamClientError(
        code,
        code === UpstreamClientErrorCode.HeadersTimeout
          ? "the upstream did not answer in time"
          : "the upstream's response body stalled",
      ),
    );
  }

  /** Closes the socket; a request in progress fails. */
  destroy(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#owner.remove(this);
    this.socket.destroy();
  }
}
