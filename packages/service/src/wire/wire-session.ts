import type { Socket } from "node:net";
import type { Logger } from "@flotilla/observability";
import { CallTable } from "./call-table.js";
import { FrameWriter } from "./frame-writer.js";
import { controlFrame, encodeFrame, FrameKind, FrameReader, type FrameSink } from "./wire-frame.js";

/** One call as the server receives it. */
export interface WireCall {
  /** The contract route's name. */
  readonly route: string;
  readonly method: string;
  /** Path and query string, encoded. */
  readonly path: string;
  /** Lower-case names. */
  readonly headers: Record<string, string>;
  /** The request body's text, `""` for none. */
  readonly body: string;
  /** The caller's address. */
  readonly ip: string;
}

/** The answer to a call. */
export interface WireAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** The body's text; `undefined` for none. */
  readonly text: string | undefined;
}

/** What serves the calls of every wire connection: the service's server. */
export interface WireHandler {
  /** Answers one call; `controller` aborts when the caller cancels it or the connection closes. Never rejects. */
  serve(call: WireCall, controller: AbortController): Promise<WireAnswer>;
  /** The answer to a call that cannot be served: a body over the limit, or a head that is not a request. */
  refuse(reason: "body-too-large" | "bad-head" | "too-many-calls", detail: string): WireAnswer;
}

/** Options of {@link WireSession}. */
export interface WireSessionOptions {
  readonly maxFrameBytes: number;
  /** Calls served at once on this connection; more are answered 503 at once. */
  readonly maxCalls: number;
  readonly logger: Logger;
  readonly onClose: (session: WireSession) => void;
}

/**
 * The server side of one wire connection: reads request frames, serves each (concurrently, in
 * any order) and writes its response frame; `cancel` aborts a call, a closed connection aborts
 * all of them. Responses finished in the same tick go out in one write.
 */
export class WireSession implements FrameSink {
  readonly #socket: Socket;
  readonly #handler: WireHandler;
  readonly #reader: FrameReader;
  readonly #options: WireSessionOptions;
  readonly #inFlight = new CallTable<AbortController>();
  readonly #writer: FrameWriter;
  #goneAway = false;
  /** The client ended its side: end ours once the calls in flight are answered. */
  #ending = false;

  constructor(socket: Socket, handler: WireHandler, options: WireSessionOptions) {
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    this.#handler = handler;
    this.#options = options;
    this.#reader = new FrameReader(options.maxFrameBytes, this);
    socket.on("data", (chunk: Buffer) => this.#reader.push(chunk));
    socket.on("end", () => {
      this.#ending = true;
      if (this.#inFlight.size === 0) socket.end();
    });
    socket.on("error", (error) => options.logger.debug({ err: error }, "wire connection error"));
    socket.on("close", () => {
      this.#reader.stop();
      const reason = new Error("the client closed the connection");
      for (const controller of this.#inFlight.values()) controller.abort(reason);
      this.#inFlight.clear();
      options.onClose(this);
    });
  }

  /** Calls being served. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Feeds bytes that arrived with the upgrade request. */
  push(chunk: Buffer): void {
    if (chunk.length > 0) this.#reader.push(chunk);
  }

  /** Tells the client to send nothing new here; it closes the connection once its calls are answered. */
  goAway(): void {
    if (this.#goneAway || this.#socket.destroyed) return;
    this.#goneAway = true;
    this.#writer.write(controlFrame(FrameKind.GoAway, 0));
  }

  /** Closes the connection now; calls in flight are aborted. */
  destroy(): void {
    this.#socket.destroy();
  }

  frame(kind: number, id: number, head: string, body: string): void {
    if (kind === FrameKind.Cancel) {
      this.#inFlight.get(id)?.abort(new Error("the caller cancelled the call"));
      return;
    }
    if (kind !== FrameKind.Request) {
      this.malformed(`a frame of kind ${kind} from a client`);
      return;
    }
    if (this.#inFlight.has(id)) {
      this.malformed(`call id ${id} reused while the call is in flight`);
      return;
    }
    const call = parseHead(head, body, this.#socket.remoteAddress ?? "");
    if (typeof call === "string") {
      this.#answer(id, this.#handler.refuse("bad-head", call));
      return;
    }
    if (this.#inFlight.size >= this.#options.maxCalls) {
      this.#answer(
        id,
        this.#handler.refuse(
          "too-many-calls",
          `this connection already has ${this.#inFlight.size} calls in flight, the most it serves at once`,
        ),
      );
      return;
    }
    const controller = new AbortController();
    this.#inFlight.set(id, controller);
    void this.#handler.serve(call, controller).then((answer) => {
      this.#inFlight.delete(id);
      this.#answer(id, answer);
      if (this.#ending && this.#inFlight.size === 0) this.#socket.end();
    });
  }

  oversize(kind: number, id: number, bytes: number): void {
    if (kind !== FrameKind.Request) {
      this.malformed(`a frame of kind ${kind} and ${bytes} bytes`);
      return;
    }
    this.#answer(
      id,
      this.#handler.refuse(
        "body-too-large",
        `the call's frame has ${bytes} bytes, over the limit of ${this.#options.maxFrameBytes}`,
      ),
    );
  }

  malformed(reason: string): void {
    this.#options.logger.warn(
      { peer: this.#socket.remoteAddress, reason },
      "closing a wire connection that sent bytes that are not a frame",
    );
    this.#reader.stop();
    this.#socket.destroy();
  }

  #answer(id: number, answer: WireAnswer): void {
    if (this.#socket.destroyed) return;
    const head =
      answer.headers === undefined
        ? `{"s":${answer.status}}`
        : JSON.stringify({ s: answer.status, h: answer.headers });
    this.#writer.write(encodeFrame(FrameKind.Response, id, head, answer.text));
  }
}

function parseHead(head: string, body: string, ip: string): WireCall | string {
  let value: unknown;
  try {
    value = JSON.parse(head);
  } catch {
    return "the request frame's head is not JSON";
  }
  if (typeof value !== "object" || value === null) return "the request frame's head is not an object";
  const { r, m, p, h } = value as Record<string, unknown>;
  if (typeof r !== "string" || typeof m !== "string" || typeof p !== "string" || !p.startsWith("/")) {
    return "the request frame's head needs r (route), m (method) and p (a path starting with /) as strings";
  }
  if (typeof h !== "object" || h === null || Array.isArray(h))
    return "the request frame's head needs h (headers) as an object";
  const headers = h as Record<string, unknown>;
  for (const name in headers) {
    if (typeof headers[name] !== "string") return `header "${name}" is not a string`;
  }
  return { route: r, method: m, path: p, headers: headers as Record<string, string>, body, ip };
}
