/** One server-sent event, as dispatched by an {@link SseParser}. */
export interface SseEvent {
  /** The `event:` field; `message` when the event had none. */
  readonly type: string;
  /** The `data:` lines joined with `\n`. */
  readonly data: string;
  /** The last `id:` seen on the stream so far (it carries over to later events), `""` before any. */
  readonly lastEventId: string;
}

/**
 * An incremental `text/event-stream` parser following the WHATWG HTML "event stream
 * interpretation" (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * lines end in CRLF, LF or CR (also across chunk boundaries); `:` lines are comments; a blank line
 * dispatches the event when it has data; `data:` lines accumulate; `id:` persists; a leading BOM
 * and one space after the colon are dropped; an event cut off by the end of the stream is dropped.
 * `retry:` is ignored: reconnecting is the caller's business.
 *
 * ```ts
 * const parser = new SseParser((event) => console.log(event.type, JSON.parse(event.data)));
 * for await (const chunk of body) parser.push(chunk);
 * parser.end();
 * ```
 */
export class SseParser {
  readonly #onEvent: (event: SseEvent) => void;
  readonly #decoder = new TextDecoder("utf-8");
  #buffer = "";
  /** Where the search for the next line end resumes, so that a long line is scanned once. */
  #scanFrom = 0;
  #started = false;
  #type = "";
  #data: string[] = [];
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
    let text = typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (!this.#started) {
      if (text.length === 0) return;
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#buffer += text;
    this.#drain(false);
  }

  /** Ends the stream: a last line is processed, an event without its blank line is dropped. */
  end(): void {
    this.#buffer += this.#decoder.decode();
    this.#drain(true);
    this.#buffer = "";
    this.#scanFrom = 0;
    this.#data = [];
    this.#type = "";
  }

  #drain(final: boolean): void {
    const buffer = this.#buffer;
    let start = 0;
    let i = this.#scanFrom;
    for (; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // A CR at the very end may be the first half of a CRLF still in flight.
      if (c === 13 && i + 1 === buffer.length && !final) break;
      this.#line(buffer.slice(start, i));
      if (c === 13 && buffer.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
    this.#scanFrom = i - start;
  }

  #line(line: string): void {
    if (line.length === 0) {
      this.#dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      default:
        break;
    }
  }

  #dispatch(): void {
    if (this.#data.length === 0) {
      this.#type = "";
      return;
    }
    const event: SseEvent = {
      type: this.#type === "" ? "message" : this.#type,
      data: this.#data.join("\n"),
      lastEventId: this.#lastEventId,
    };
    this.#data = [];
    this.#type = "";
    this.#onEvent(event);
  }
}
