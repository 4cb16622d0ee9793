/** One server-sent event, as dispatched by an {@link SseParser}. */
export interface SseEvent {
  /** The `event:` field; `message` when the event had none. */
  readonly type: string;
  /** The `data:` lines joined with `\n`. */
  readonly data: string;
  /** The last `id:` seen on the stream so far (it carries over to later events), `""` before any. */
  readonly lastEventId: string;
}

const encoder = new TextEncoder();
const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

/**
 * An incremental `text/event-stream` parser following the WHATWG HTML "event stream
 * interpretation" (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * lines end in CRLF, LF or CR (also across chunk boundaries); `:` lines are comments; a blank line
 * dispatches the event when it has data; `data:` lines accumulate; `id:` persists; a leading BOM
 * and one space after the colon are dropped; an event (or line) cut off by the end of the stream
 * is dropped. `retry:` is ignored: reconnecting is the caller's business.
 *
 * It works on the bytes: line ends are found with `indexOf` on the chunk, and only field values
 * are decoded (UTF-8, invalid sequences replaced), so a large `data:` line costs one native scan
 * and one decode, without copying the chunk into a string first. A line split over several chunks
 * is joined once, when its end arrives.
 *
 * ```ts
 * const parser = new SseParser((event) => console.log(event.type, JSON.parse(event.data)));
 * body.on("data", (chunk: Uint8Array) => parser.push(chunk));
 * body.on("end", () => parser.end());
 * ```
 */
export class SseParser {
  readonly #onEvent: (event: SseEvent) => void;
  readonly #decoder = new TextDecoder("utf-8");
  /** The start of a line whose end has not arrived yet, one piece per chunk. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** The last chunk ended in CR: an LF opening the next one completes that CRLF. */
  #skipLf = false;
  /** No line seen yet: the first one may begin with a BOM. */
  #first = true;
  #type = "";
  #data: string | undefined;
  #lastEventId = "";

  constructor(onEvent: (event: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  /** The `id:` of the stream so far: what a reconnect sends as `Last-Event-ID`. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Feeds the next chunk of the body: bytes (UTF-8, split anywhere) or text. */
  push(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    const length = bytes.length;
    let pos = 0;
    if (this.#skipLf && length > 0) {
      this.#skipLf = false;
      if (bytes[0] === LF) pos = 1;
    }
    // Next LF and CR at or after `pos`; -1 once there is none left in this chunk.
    let lf = bytes.indexOf(LF, pos);
    let cr = bytes.indexOf(CR, pos);
    while (lf !== -1 || cr !== -1) {
      let end: number;
      let next: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        next = cr + 1;
        if (next === length) this.#skipLf = true;
        else if (bytes[next] === LF) next++;
      }
      if (this.#pendingBytes === 0) this.#line(bytes, pos, end);
      else {
        const line = this.#takePending(bytes.subarray(pos, end));
        this.#line(line, 0, line.length);
      }
      pos = next;
      if (lf !== -1 && lf < pos) lf = bytes.indexOf(LF, pos);
      if (cr !== -1 && cr < pos) cr = bytes.indexOf(CR, pos);
    }
    if (pos < length) {
      // A copy: the caller may reuse the chunk's memory.
      this.#pending.push(bytes.slice(pos));
      this.#pendingBytes += length - pos;
    }
  }

  /** Ends the stream: an unfinished line or event is dropped. */
  end(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#data = undefined;
    this.#type = "";
  }

  #takePending(last: Uint8Array): Uint8Array {
    const line = new Uint8Array(this.#pendingBytes + last.length);
    let at = 0;
    for (const piece of this.#pending) {
      line.set(piece, at);
      at += piece.length;
    }
    line.set(last, at);
    this.#pending = [];
    this.#pendingBytes = 0;
    return line;
  }

  #line(bytes: Uint8Array, start: number, end: number): void {
    if (this.#first) {
      this.#first = false;
      if (
        end - start >= 3 &&
        bytes[start] === 0xef &&
        bytes[start + 1] === 0xbb &&
        bytes[start + 2] === 0xbf
      ) {
        start += 3;
      }
    }
    if (start === end) {
      this.#dispatch();
      return;
    }
    if (bytes[start] === COLON) return;
    let colon = start;
    while (colon < end && bytes[colon] !== COLON) colon++;
    let value = colon < end ? colon + 1 : end;
    if (value < end && bytes[value] === SPACE) value++;
    switch (fieldOf(bytes, start, colon)) {
      case "data": {
        const text = this.#decode(bytes, value, end);
        this.#data = this.#data === undefined ? text : `${this.#data}\n${text}`;
        break;
      }
      case "event":
        this.#type = this.#decode(bytes, value, end);
        break;
      case "id":
        if (bytes.subarray(value, end).indexOf(0) === -1) this.#lastEventId = this.#decode(bytes, value, end);
        break;
      default:
        break;
    }
  }

  #decode(bytes: Uint8Array, start: number, end: number): string {
    return start === end ? "" : this.#decoder.decode(bytes.subarray(start, end));
  }

  #dispatch(): void {
    const data = this.#data;
    const type = this.#type;
    this.#data = undefined;
    this.#type = "";
    if (data === undefined) return;
    this.#onEvent({ type: type === "" ? "message" : type, data, lastEventId: this.#lastEventId });
  }
}

/** The field named by `bytes[start, end)` when the parser uses it, compared as bytes. */
function fieldOf(bytes: Uint8Array, start: number, end: number): "data" | "event" | "id" | undefined {
  const b = (k: number) => bytes[start + k];
  switch (end - start) {
    case 2:
      return b(0) === 0x69 && b(1) === 0x64 ? "id" : undefined;
    case 4:
      return b(0) === 0x64 && b(1) === 0x61 && b(2) === 0x74 && b(3) === 0x61 ? "data" : undefined;
    case 5:
      return b(0) === 0x65 && b(1) === 0x76 && b(2) === 0x65 && b(3) === 0x6e && b(4) === 0x74
        ? "event"
        : undefined;
    default:
      return undefined;
  }
}
