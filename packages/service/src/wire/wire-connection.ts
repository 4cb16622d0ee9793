import { connect, type Socket } from "node:net";
import type { ExchangeResult } from "../client/http-exchange.js";
import { ResponseTooLargeError } from "../client/http-exchange.js";
import type { OutboundCall } from "../client/outbound-call.js";
import { CallTable } from "./call-table.js";
import { FrameWriter } from "./frame-writer.js";
import {
  controlFrame,
  encodeFrame,
  FrameKind,
  FrameReader,
  type FrameSink,
  maxCallId,
} from "./wire-frame.js";
import { upgradeRequest, wireProtocol } from "./wire-protocol.js";

/**
 * A call was not sent because the instance does not take wire connections (the upgrade was
 * refused) or the connection failed before the call left; the caller may send it another way.
 */
export class WireUnavailableError extends Error {
  /** The upgrade was answered, with another status than 101: the instance speaks HTTP only. */
  readonly refused: boolean;

  constructor(message: string, refused: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "WireUnavailableError";
    this.refused = refused;
  }
}

/** What a wire call sends: the route's name as `label`, the method, path and query, and the JSON body. */
export type WireRequest = Pick<OutboundCall, "label" | "method" | "path" | "body">;

/** A call in flight on a {@link WireConnection}. */
class PendingCall {
  readonly promise: Promise<ExchangeResult>;
  resolve!: (result: ExchangeResult) => void;
  reject!: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly id: number;
  readonly connection: WireConnection;

  constructor(connection: WireConnection, id: number, signal: AbortSignal | undefined) {
    this.connection = connection;
    this.id = id;
    this.signal = signal;
    this.promise = new Promise<ExchangeResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    signal?.addEventListener("abort", this);
  }

  /** The listener on the call's signal. */
  handleEvent(): void {
    this.connection.cancel(this);
  }

  done(): void {
    this.signal?.removeEventListener("abort", this);
  }
}

/** Options of {@link WireConnection}. */
export interface WireConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** The largest response accepted, body and head; a larger one fails its call with a `ResponseTooLargeError`. */
  readonly maxFrameBytes: number;
  /** How long the upgrade may take; then the calls sent are failed as never served and the connection dropped. */
  readonly handshakeTimeoutMs: number;
  /** Called once, when the connection can take no more calls (going away, failed or closed). */
  readonly onRetire: (connection: WireConnection) => void;
}

const headerEnd = Buffer.from("\r\n\r\n");

/**
 * The client side of one wire connection to one instance: calls are multiplexed by id, written
 * as soon as they are made (the upgrade request and the first calls go out together), and the
 * calls of one tick share a write. The socket keeps the process alive only while calls are pending.
 */
export class WireConnection implements FrameSink {
  readonly #socket: Socket;
  readonly #reader: FrameReader;
  readonly #options: WireConnectionOptions;
  readonly #pending = new CallTable<PendingCall>();
  #nextId = 1;
  #upgraded = false;
  #handshake: Buffer | undefined = undefined;
  #retired = false;
  readonly #handshakeTimer: NodeJS.Timeout;
  readonly #writer: FrameWriter;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  constructor(options: WireConnectionOptions) {
    this.#options = options;
    this.#reader = new FrameReader(options.maxFrameBytes, this);
    const socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: wireProtocol.keepAliveMs,
    });
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    this.#handshakeTimer = setTimeout(() => {
      this.#failAll(
        new WireUnavailableError(
          `${options.host}:${options.port} did not answer the wire upgrade within ${options.handshakeTimeoutMs} ms`,
          false,
        ),
      );
      socket.destroy();
    }, options.handshakeTimeoutMs);
    this.#handshakeTimer.unref();
    socket.unref();
    socket.write(
      upgradeRequest(options.host.includes(":") ? `[${options.host}]` : options.host, options.port),
    );
    socket.on("data", (chunk: Buffer) =>
      this.#upgraded ? this.#reader.push(chunk) : this.#onHandshake(chunk),
    );
    socket.on("error", (error) => this.#failAll(error));
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.#failAll(new Error("the wire connection closed"));
        resolve();
      });
    });
  }

  /** Calls waiting for their answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /** False once the connection takes no new calls. */
  get usable(): boolean {
    // A destroyed socket reports its close a tick later; a call written in between would be lost.
    return !this.#retired && !this.#socket.destroyed;
  }

  /** Sends a call; resolves with its answer. */
  exchange(
    request: WireRequest,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<ExchangeResult> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let id = this.#nextId;
    // Only after 2^32 calls can an id come round while its call is still waiting.
    while (this.#pending.has(id)) id = id === maxCallId ? 1 : id + 1;
    this.#nextId = id === maxCallId ? 1 : id + 1;
    const call = new PendingCall(this, id, signal);
    if (this.#pending.size === 0) this.#socket.ref();
    this.#pending.set(id, call);
    this.#writer.write(
      encodeFrame(
        FrameKind.Request,
        id,
        JSON.stringify({ r: request.label, m: request.method, p: request.path, h: headers }),
        request.body,
      ),
    );
    return call.promise;
  }

  /** Gives up on `call`: rejects it with its signal's reason and tells the server. */
  cancel(call: PendingCall): void {
    if (this.#settle(call.id) === undefined) return;
    call.reject(call.signal?.reason);
    if (!this.#socket.destroyed) this.#writer.write(controlFrame(FrameKind.Cancel, call.id));
  }

  /** Takes no new calls and closes once the pending ones are answered. */
  close(): void {
    this.#retire();
    if (this.#pending.size === 0) this.#socket.end();
  }

  frame(kind: number, id: number, head: string, body: string): void {
    if (kind === FrameKind.GoAway) {
      this.close();
      return;
    }
    if (kind !== FrameKind.Response) {
      this.malformed(`a frame of kind ${kind} from the server`);
      return;
    }
    const call = this.#settle(id);
    if (call === undefined) return;
    let parsed: { s?: unknown; h?: Record<string, string> };
    try {
      parsed = JSON.parse(head) as typeof parsed;
    } catch {
      this.malformed("a response head that is not JSON");
      call.reject(new Error("the response head is not JSON"));
      return;
    }
    const status = parsed.s;
    if (typeof status !== "number") {
      call.reject(new Error("the response head has no status"));
      return;
    }
    const h = parsed.h;
    call.resolve({
      status,
      contentType: h?.["content-type"],
      retryAfter: status < 300 ? undefined : h?.["retry-after"],
      body,
    });
  }

  oversize(kind: number, id: number): void {
    if (kind !== FrameKind.Response) {
      this.malformed(`an oversize frame of kind ${kind}`);
      return;
    }
    const call = this.#settle(id);
    if (call === undefined) return;
    call.reject(new ResponseTooLargeError(this.#options.maxFrameBytes));
  }

  malformed(reason: string): void {
    this.#socket.destroy(new Error(`the server sent bytes that are not a frame: ${reason}`));
  }

  #onHandshake(chunk: Buffer): void {
    const buf = this.#handshake === undefined ? chunk : Buffer.concat([this.#handshake, chunk]);
    const end = buf.indexOf(headerEnd);
    if (end < 0) {
      if (buf.length > 16 * 1024) this.#refused("an upgrade answer with headers over 16 KiB");
      else this.#handshake = buf;
      return;
    }
    this.#handshake = undefined;
    const statusLine = buf.toString("latin1", 0, Math.min(buf.indexOf("\r\n"), 200));
    if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
      this.#refused(`the upgrade was answered "${statusLine}"`);
      return;
    }
    this.#upgraded = true;
    clearTimeout(this.#handshakeTimer);
    if (end + 4 < buf.length) this.#reader.push(buf.subarray(end + 4));
  }

  #refused(reason: string): void {
    const error = new WireUnavailableError(
      `${this.#options.host}:${this.#options.port} does not take wire connections: ${reason}`,
      true,
    );
    this.#failAll(error);
    this.#socket.destroy();
  }

  /** Fails every pending call; those of a connection that never upgraded were never served. */
  #failAll(error: Error): void {
    clearTimeout(this.#handshakeTimer);
    this.#retire();
    this.#reader.stop();
    if (this.#pending.size === 0) return;
    const failure =
      this.#upgraded || error instanceof WireUnavailableError
        ? error
        : new WireUnavailableError(`could not open a wire connection: ${error.message}`, false, error);
    const calls = this.#pending.values();
    this.#pending.clear();
    for (const call of calls) {
      call.done();
      call.reject(failure);
    }
  }

  /** Takes `id`'s call off the pending ones; `undefined` when it was not pending. */
  #settle(id: number): PendingCall | undefined {
    const call = this.#pending.delete(id);
    if (call === undefined) return undefined;
    call.done();
    if (this.#pending.size === 0) {
      if (this.#retired) this.#socket.end();
      else this.#socket.unref();
    }
    return call;
  }

  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#options.onRetire(this);
  }
}
