import { UpstreamClientError, UpstreamClientErrorCode } from "./upstream-client-error.js";

/** What a {@link ResponseParser} reports, in order: head, body chunks, end. */
export interface ResponseParserEvents {
  /** A final (or `101`) response head: status and headers as a flat `[name, value, …]` list. */
  onHead(status: number, headers: string[], keepAlive: boolean): void;
  /** A slice of the body (a view into the socket's buffer: copy it to keep it). */
  onBody(chunk: Buffer): void;
  /** The response is complete; `rest` holds bytes that followed it (a protocol error unless empty). */
  onEnd(rest: Buffer | undefined): void;
}

const State = {
  Head: 0,
  Length: 1,
  ChunkSize: 2,
  ChunkData: 3,
  ChunkDataEnd: 4,
  Trailers: 5,
  UntilClose: 6,
  Done: 7,
} as const;
type State = (typeof State)[keyof typeof State];

/** Longest response head accepted. */
const maxHeadBytes = 64 * 1024;
/** Longest chunk-size line (with extensions) or trailer line accepted. */
const maxLineBytes = 4 * 1024;

// RFC 9110 §5.6.2 token characters, for header names.
const tokenChar = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  tokenChar[c.charCodeAt(0)] = 1;

/**
 * An incremental HTTP/1.1 response parser (RFC 9112) for the gateway's upstream connections:
 * status line, header fields, and the body framed by `Content-Length`, `chunked`
 * `Transfer-Encoding` or the connection's close. Strict where laxness lets a response be read
 * two ways: obsolete line folding, bare LF, control characters, conflicting `Content-Length`s,
 * bad chunk sizes and oversized heads are errors (`FLT_UPSTREAM_BAD_RESPONSE`); `1xx` interim
 * responses other than `101` are skipped. Bodies are passed on as views into the socket's chunks,
 * never copied or buffered.
 */
export class ResponseParser {
  #state: State = State.Head;
  #head: Buffer | undefined;
  #remaining = 0;
  #line = "";
  #noBody = false;
  #upgraded = false;
  #events: ResponseParserEvents;

  constructor(events: ResponseParserEvents) {
    this.#events = events;
  }

  /** Prepares for the response to a request; `noBody` for `HEAD`. */
  reset(noBody: boolean): void {
    this.#state = State.Head;
    this.#head = undefined;
    this.#remaining = 0;
    this.#line = "";
    this.#noBody = noBody;
  }

  /** True while reading a body that ends when the connection closes. */
  get readsUntilClose(): boolean {
    return this.#state === State.UntilClose;
  }

  /** True before any byte of the response head arrived. */
  get idle(): boolean {
    return this.#state === State.Head && this.#head === undefined;
  }

  /** The connection closed: ends a body read until close; anything else unfinished is an error. */
  finish(): boolean {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done;
      this.#events.onEnd(undefined);
      return true;
    }
    return this.#state === State.Done;
  }

  /** Consumes bytes from the socket; throws an `UpstreamClientError` on a malformed response. */
  execute(data: Buffer): void {
    let offset = 0;
    const length = data.length;
    while (offset < length) {
      switch (this.#state) {
        case State.Head: {
          offset = this.#readHead(data, offset);
          break;
        }
        case State.Length: {
          const take = Math.min(this.#remaining, length - offset);
          const chunk = take === length && offset === 0 ? data : data.subarray(offset, offset + take);
          this.#remaining -= take;
          offset += take;
          this.#events.onBody(chunk);
          if (this.#remaining === 0) this.#end(data, offset);
          break;
        }
        case State.ChunkSize: {
          offset = this.#readLine(data, offset);
          if (this.#state === State.ChunkSize && this.#line.endsWith("\r\n")) this.#chunkSize();
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.#remaining, length - offset);
          this.#events.onBody(data.subarray(offset, offset + take));
          this.#remaining -= take;
          offset += take;
          if (this.#remaining === 0) {
            this.#state = State.ChunkDataEnd;
            this.#line = "";
          }
          break;
        }
        case State.ChunkDataEnd: {
          offset = this.#readLine(data, offset);
          if (this.#line.endsWith("\r\n")) {
            if (this.#line !== "\r\n") throw bad("chunk data not followed by CRLF");
            this.#line = "";
            this.#state = State.ChunkSize;
          }
          break;
        }
        case State.Trailers: {
          offset = this.#readLine(data, offset);
          if (this.#line.endsWith("\r\n")) {
            if (this.#line === "\r\n") this.#end(data, offset);
            else this.#line = "";
          }
          break;
        }
        case State.UntilClose: {
          this.#events.onBody(offset === 0 ? data : data.subarray(offset));
          offset = length;
          break;
        }
        case State.Done:
          throw bad("bytes after the end of the response");
      }
    }
  }

  #end(data: Buffer, offset: number): void {
    this.#state = State.Done;
    this.#events.onEnd(offset < data.length ? data.subarray(offset) : undefined);
  }

  #readLine(data: Buffer, offset: number): number {
    const lf = data.indexOf(10, offset);
    const end = lf < 0 ? data.length : lf + 1;
    this.#line += data.toString("latin1", offset, end);
    if (this.#line.length > maxLineBytes) throw bad("chunk-size or trailer line too long");
    if (lf >= 0 && !this.#line.endsWith("\r\n")) throw bad("bare LF in chunked framing");
    return end;
  }

  #chunkSize(): void {
    const line = this.#line;
    let size = 0;
    let i = 0;
    for (; i < line.length; i++) {
      const c = line.charCodeAt(i);
      const digit =
        c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (digit < 0) break;
      size = size * 16 + digit;
      if (size > Number.MAX_SAFE_INTEGER / 16) throw bad("chunk size too large");
    }
    const rest = line.charCodeAt(i);
    // After the hex digits: CRLF, or `;` extensions (RFC 9112 §7.1.1), optionally after whitespace.
    if (i === 0 || !(rest === 13 || rest === 59 || rest === 32 || rest === 9))
      throw bad("malformed chunk size");
    this.#line = "";
    if (size === 0) this.#state = State.Trailers;
    else {
      this.#remaining = size;
      this.#state = State.ChunkData;
    }
  }

  #readHead(data: Buffer, offset: number): number {
    let buffer = data;
    let start = offset;
    let searchFrom = offset;
    if (this.#head !== undefined) {
      searchFrom = Math.max(0, this.#head.length - 3);
      buffer = Buffer.concat([this.#head, data.subarray(offset)]);
      start = 0;
    }
    const end = buffer.indexOf("\r\n\r\n", searchFrom, "latin1");
    if (end < 0) {
      if (buffer.length - start > maxHeadBytes) throw bad("response head too large");
      this.#head = start === 0 && buffer !== data ? buffer : Buffer.from(buffer.subarray(start));
      return data.length;
    }
    if (end - start > maxHeadBytes) throw bad("response head too large");
    const consumedFromData = this.#head === undefined ? end + 4 : end + 4 - this.#head.length + offset;
    const text = buffer.toString("latin1", start, end);
    this.#head = undefined;
    this.#parseHead(text);
    if (this.#upgraded) {
      // What follows a 101 head belongs to the new protocol: hand it over with the end.
      this.#upgraded = false;
      this.#end(data, consumedFromData);
      return data.length;
    }
    return consumedFromData;
  }

  #parseHead(text: string): void {
    const firstEnd = text.indexOf("\r\n");
    const statusLine = firstEnd < 0 ? text : text.slice(0, firstEnd);
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]
    if (
      statusLine.length < 12 ||
      !statusLine.startsWith("HTTP/1.") ||
      (statusLine.charCodeAt(7) !== 49 && statusLine.charCodeAt(7) !== 48) ||
      statusLine.charCodeAt(8) !== 32 ||
      (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)
    ) {
      throw bad("malformed status line");
    }
    const d0 = statusLine.charCodeAt(9) - 48;
    const d1 = statusLine.charCodeAt(10) - 48;
    const d2 = statusLine.charCodeAt(11) - 48;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw bad("malformed status code");
    const status = d0 * 100 + d1 * 10 + d2;
    if (hasControl(statusLine, -1)) throw bad("control character in the status line");
    const http10 = statusLine.charCodeAt(7) === 48;
    const headers: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    let pos = firstEnd < 0 ? text.length : firstEnd + 2;
    while (pos < text.length) {
      let lineEnd = text.indexOf("\r\n", pos);
      if (lineEnd < 0) lineEnd = text.length;
      const colon = text.indexOf(":", pos);
      if (colon < 0 || colon > lineEnd || colon === pos) throw bad("malformed header line");
      for (let i = pos; i < colon; i++) {
        const c = text.charCodeAt(i);
        if (c > 127 || tokenChar[c] === 0) throw bad("invalid character in a header name");
      }
      const name = text.slice(pos, colon);
      let vs = colon + 1;
      let ve = lineEnd;
      while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      const value = text.slice(vs, ve);
      if (hasControl(value, -1)) throw bad("control character in a header value");
      headers.push(name, value);
      pos = lineEnd + 2;
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === "content-length") {
            const n = parseContentLength(value);
            if (contentLength >= 0 && contentLength !== n) throw bad("conflicting Content-Length");
            contentLength = n;
          }
          break;
        case 17:
          if (name.toLowerCase() === "transfer-encoding") {
            transferEncoding = true;
            const last = value
              .slice(value.lastIndexOf(",") + 1)
              .trim()
              .toLowerCase();
            chunked = last === "chunked";
          }
          break;
        case 10:
          if (name.toLowerCase() === "connection") {
            const v = value.toLowerCase();
            if (v.includes("close")) close = true;
            else if (http10 && v.includes("keep-alive")) close = false;
          }
          break;
      }
    }
    if (status < 200 && status !== 101) {
      // Interim response (100 Continue, 103 Early Hints): the final one follows.
      this.#state = State.Head;
      return;
    }
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and such a message must not be
    // trusted to leave the connection in a known state; a non-chunked one is read until close.
    if (transferEncoding) {
      close = close || !chunked || contentLength >= 0;
      contentLength = -1;
    }
    const noBody = this.#noBody || status === 204 || status === 304 || status === 101;
    this.#events.onHead(status, headers, !close);
    if (status === 101) {
      this.#state = State.Done;
      this.#upgraded = true;
      return;
    }
    if (noBody) this.#state = State.Done;
    else if (chunked) {
      this.#state = State.ChunkSize;
      this.#line = "";
    } else if (contentLength >= 0) {
      this.#remaining = contentLength;
      this.#state = contentLength === 0 ? State.Done : State.Length;
    } else this.#state = State.UntilClose;
    if (this.#state === State.Done) this.#events.onEnd(undefined);
  }
}

function parseContentLength(value: string): number {
  if (value.length === 0 || value.length > 15) throw bad("invalid Content-Length");
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) throw bad("invalid Content-Length");
    n = n * 10 + (c - 48);
  }
  return n;
}

/** True when `value` has a control character other than horizontal tab (and `allowed`). */
function hasControl(value: string, allowed: number): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== allowed) || c === 127) return true;
  }
  return false;
}

function bad(reason: string): UpstreamClientError {
  return new UpstreamClientError(
    UpstreamClientErrorCode.BadResponse,
    `malformed upstream response: ${reason}`,
  );
}
