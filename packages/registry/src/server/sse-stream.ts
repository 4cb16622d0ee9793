import type { ServerResponse } from "node:http";
import type { ChangeListener, Unsubscribe } from "./change-topics.js";
import { indexHeader } from "./http-responses.js";

/** A stream's current result: its index and the rest of its `data` object. */
export interface StreamResult {
  readonly index: number;
  /**
   * The JSON members after `index`, such as `"instances":[…]`; the event's data is
   * `{"index":N,<members>}`. Equal text means nothing the client sees changed.
   */
  readonly members: string;
}

/**
 * The JSON members of a `delta` event taking a client from `previous` to `current` (after
 * `"index":N,"from":P,`); `undefined` when nothing the client sees changed, `null` when it should
 * get a `snapshot` instead.
 */
export type StreamDiff<R extends StreamResult> = (previous: R, current: R) => string | null | undefined;

/** What {@link SseStream} needs. */
export interface SseStreamOptions<R extends StreamResult = StreamResult> {
  /** The current result; read once per event-loop turn in which the topic changed. */
  readonly render: () => R;
  /**
   * Present when the client asked for deltas: after the snapshot, each change is sent as a `delta`
   * event made by `diff` from the last result sent, rather than as an `update` with the whole result.
   */
  readonly diff?: StreamDiff<R> | undefined;
  /** Attaches the stream to the changes it follows. */
  readonly subscribe: (listener: ChangeListener) => Unsubscribe;
  /** Bytes the client may leave unread before the stream drops it. */
  readonly maxBufferedBytes: number;
  /** Called once when the stream ends, whoever ended it. */
  readonly onClose: (stream: SseStream<R>) => void;
  /**
   * Asks for {@link SseStream.flush} at the end of this event-loop turn. The hub batches every
   * stream's flush into one turn, so that streams with the same result share one encoded event.
   */
  readonly schedule: (stream: SseStream<R>) => void;
}

/**
 * Bytes sent to SSE clients, encoded once however many streams send them: the text itself, and
 * the same text framed as one HTTP/1.1 chunk (`<size in hex>\r\n<text>\r\n`, RFC 9112 §7.1).
 */
export class SseChunk {
  /** The event (or comment) as `text/event-stream` bytes. */
  readonly payload: Buffer;
  #framed: Buffer | undefined;

  constructor(text: string) {
    this.payload = Buffer.from(text, "utf8");
  }

  /** The payload as one chunk of a chunked body, built on first use. */
  get framed(): Buffer {
    if (this.#framed === undefined) {
      const head = `${this.payload.length.toString(16)}\r\n`;
      const framed = Buffer.allocUnsafe(head.length + this.payload.length + 2);
      framed.write(head, 0, "latin1");
      this.payload.copy(framed, head.length);
      framed.write("\r\n", head.length + this.payload.length, "latin1");
      this.#framed = framed;
    }
    return this.#framed;
  }
}

/**
 * The events of one flush, each encoded once and written to every stream that sends the same: an
 * `update` by its result's `members` text, a `delta` or `snapshot` by the result it starts from.
 * Streams that were sent the same result object share it, so a thousand streams of one service
 * and filter cost one diff and one encoding.
 */
export class EncodedEvents {
  readonly #updates = new Map<string, { readonly index: number; readonly chunk: SseChunk }>();
  readonly #deltas = new Map<
    StreamResult,
    { readonly to: StreamResult; readonly chunk: SseChunk | undefined }
  >();

  /** The `update` event carrying `result`. */
  update(result: StreamResult): SseChunk {
    let event = this.#updates.get(result.members);
    if (event === undefined || event.index !== result.index) {
      event = { index: result.index, chunk: new SseChunk(eventText("update", result)) };
      this.#updates.set(result.members, event);
    }
    return event.chunk;
  }

  /** The `delta` (or `snapshot`) event from `previous` to `current`; `undefined` when nothing changed. */
  delta<R extends StreamResult>(previous: R, current: R, diff: StreamDiff<R>): SseChunk | undefined {
    let event = this.#deltas.get(previous);
    if (event === undefined || event.to !== current) {
      const members = diff(previous, current);
      const chunk =
        members === undefined
          ? undefined
          : new SseChunk(
              members === null
                ? eventText("snapshot", current)
                : `event: delta\nid: ${current.index}\ndata: {"index":${current.index},"from":${previous.index},${members}}\n\n`,
            );
      event = { to: current, chunk };
      this.#deltas.set(previous, event);
    }
    return event.chunk;
  }
}

const pingChunk = new SseChunk(": ping\n\n");

/**
 * One Server-Sent Events client (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * a `snapshot` event with the whole result, then after each change, coalesced to one per
 * event-loop turn, an `update` event with the whole new result — or, when the stream has a `diff`,
 * a `delta` event with what changed since the last event (a `snapshot` again when `diff` says so).
 * `id:` is the result's index. A client that falls more than `maxBufferedBytes` behind is dropped;
 * it reconnects with `Last-Event-ID`.
 */
export class SseStream<R extends StreamResult = StreamResult> implements ChangeListener {
  readonly #res: ServerResponse;
  readonly #options: SseStreamOptions<R>;
  #unsubscribe: Unsubscribe | undefined;
  #scheduled = false;
  /** The result the client holds: the last one sent (or resumed from). */
  #last: R | undefined;
  #closed = false;

  constructor(res: ServerResponse, options: SseStreamOptions<R>) {
    this.#res = res;
    this.#options = options;
  }

  /**
   * Sends the headers and, unless the result's index is still `sinceIndex` (the client's
   * `Last-Event-ID` or `?index=`), the snapshot; then follows changes.
   */
  start(sinceIndex: number | undefined): void {
    const res = this.#res;
    const first = this.#options.render();
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      [indexHeader]: String(first.index),
    });
    res.once("close", () => this.close());
    this.#unsubscribe = this.#options.subscribe(this);
    if (sinceIndex === undefined || first.index !== sinceIndex) this.#send("snapshot", first);
    else {
      this.#last = first;
      res.write(": resumed\n\n");
    }
  }

  /** Schedules an `update` for the end of this event-loop turn. */
  onChange(): void {
    if (this.#closed || this.#scheduled) return;
    this.#scheduled = true;
    this.#options.schedule(this);
  }

  /** Sends an `update` or `delta` if the result changed since the last event, reusing `encoded` bytes. */
  flush(encoded: EncodedEvents): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const result = this.#options.render();
    const last = this.#last;
    if (result === last) return;
    const diff = this.#options.diff;
    let chunk: SseChunk | undefined;
    if (diff !== undefined && last !== undefined) chunk = encoded.delta(last, result, diff);
    else if (result.members !== last?.members) chunk = encoded.update(result);
    if (chunk === undefined) return;
    this.#last = result;
    this.#write(chunk);
  }

  /** Writes a `: ping` comment, which keeps proxies from timing the stream out. */
  ping(): void {
    if (!this.#closed) this.#write(pingChunk);
  }

  /** Ends the stream (server closing, client gone or too slow). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    if (!this.#res.writableEnded) this.#res.end();
    this.#options.onClose(this);
  }

  #send(event: "snapshot" | "update", result: R): void {
    this.#last = result;
    this.#res.write(eventText(event, result));
  }

  #write(chunk: SseChunk): void {
    const res = this.#res;
    if (res.destroyed || res.writableEnded) {
      this.close();
      return;
    }
    const socket = res.socket;
    // After start() (which sent the headers with the first event), a chunked response with
    // nothing queued of its own writes each chunk straight to its socket (Node frames it as size,
    // data and CRLF: several buffers and a deferred uncork). The same chunk, framed once for every
    // stream, is one buffer and one write; the response still writes the last chunk when it ends.
    if (res.chunkedEncoding && socket !== null && res.writableLength === socket.writableLength) {
      socket.write(chunk.framed);
    } else res.write(chunk.payload);
    if (res.writableLength > this.#options.maxBufferedBytes) {
      this.close();
      res.destroy();
    }
  }
}

function eventText(event: "snapshot" | "update", result: StreamResult): string {
  return `event: ${event}\nid: ${result.index}\ndata: {"index":${result.index},${result.members}}\n\n`;
}
