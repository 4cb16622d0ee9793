/** One HTTP/1.1 response read off a socket by {@link HttpResponseReader}. */
export interface HttpResponse {
  readonly status: number;
  readonly reason: string;
  /** Header values by lower-case name; repeated headers joined with ", " (RFC 9110 §5.3). */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  /** Whether the connection can carry another request: HTTP/1.1, no `Connection: close`, framed body, nothing left over. */
  readonly reusable: boolean;
  /** The server's `Keep-Alive: timeout=N` hint in milliseconds, if it sent one. */
  readonly keepAliveMs: number | undefined;
}

/** A response that is not HTTP/1.x or breaks its own framing; the connection is unusable after it. */
export class HttpResponseError extends Error {
  override readonly name = "HttpResponseError";
}

interface Head {
  readonly status: number;
  readonly reason: string;
  readonly headers: Map<string, string>;
  readonly http11: boolean;
  /** Byte offset where the body starts in the reader's buffer. */
  readonly bodyStart: number;
}

const crlf = Buffer.from("\r\n");
const headEnd = Buffer.from("\r\n\r\n");
const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const chunkSizeLine = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/;

/**
 * Reads one HTTP/1.1 response from the chunks a socket delivers: the status line and headers, then
 * a body framed by `Content-Length`, by chunked transfer coding, or by the end of the connection
 * (RFC 9112 §6.3). Limits the head and the body so that a misbehaving server cannot make the
 * process buffer without bound. Made for short request/response exchanges such as OTLP exports,
 * not for streaming. The gateway's streaming `ResponseParser` (@flotilla/gateway, upstream-client)
 * parses the same grammar more strictly; it cannot be used here because the gateway depends on
 * this package. Moving that parser below both is the way to have one.
 * @internal
 */
export class HttpResponseReader {
  readonly #maxHeadBytes: number;
  readonly #maxBodyBytes: number;
  readonly #noBody: boolean;
  #buffer: Buffer = Buffer.alloc(0);
  #head: Head | undefined;

  /** @param noBody True for the response to a HEAD request, which has no body whatever its headers say. */
  constructor(options: { maxHeadBytes?: number; maxBodyBytes?: number; noBody?: boolean } = {}) {
    this.#maxHeadBytes = options.maxHeadBytes ?? 16 * 1024;
    this.#maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
    this.#noBody = options.noBody ?? false;
  }

  /** Whether any byte of the response arrived. */
  get started(): boolean {
    return this.#buffer.length > 0 || this.#head !== undefined;
  }

  /**
   * Adds bytes from the socket. Returns the response once it is complete, `undefined` while more
   * bytes are needed. Throws {@link HttpResponseError} for a malformed or oversized response.
   */
  push(chunk: Buffer): HttpResponse | undefined {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#head === undefined) {
      const end = this.#buffer.indexOf(headEnd);
      if (end === -1) {
        if (this.#buffer.length > this.#maxHeadBytes) {
          throw new HttpResponseError(`response head exceeds ${this.#maxHeadBytes} bytes`);
        }
        return undefined;
      }
      if (end > this.#maxHeadBytes)
        throw new HttpResponseError(`response head exceeds ${this.#maxHeadBytes} bytes`);
      this.#head = parseHead(this.#buffer.toString("latin1", 0, end), end + headEnd.length);
      if (this.#head.status >= 100 && this.#head.status < 200) {
        // An interim response (e.g. 100 Continue) precedes the final one on the same connection.
        this.#buffer = this.#buffer.subarray(this.#head.bodyStart);
        this.#head = undefined;
        return this.#buffer.length === 0 ? undefined : this.push(Buffer.alloc(0));
      }
    }
    return this.#tryBody(this.#head);
  }

  /**
   * The connection ended. Returns the response if its body runs to the end of the connection;
   * throws {@link HttpResponseError} if the response was cut short.
   */
  end(): HttpResponse {
    const head = this.#head;
    if (head === undefined) {
      throw new HttpResponseError(
        this.#buffer.length === 0
          ? "connection closed before any response"
          : "connection closed inside the response head",
      );
    }
    if (framing(head, this.#noBody) !== "close") {
      throw new HttpResponseError("connection closed before the response body was complete");
    }
    return response(head, this.#buffer.subarray(head.bodyStart), false);
  }

  #tryBody(head: Head): HttpResponse | undefined {
    const available = this.#buffer.length - head.bodyStart;
    const frame = framing(head, this.#noBody);
    if (frame === "none") return response(head, Buffer.alloc(0), head.http11 && available === 0);
    if (typeof frame === "number") {
      if (frame > this.#maxBodyBytes)
        throw new HttpResponseError(`response body exceeds ${this.#maxBodyBytes} bytes`);
      if (available < frame) return undefined;
      const body = this.#buffer.subarray(head.bodyStart, head.bodyStart + frame);
      return response(head, body, head.http11 && available === frame);
    }
    if (available > this.#maxBodyBytes)
      throw new HttpResponseError(`response body exceeds ${this.#maxBodyBytes} bytes`);
    if (frame === "close") return undefined;
    return this.#tryChunked(head);
  }

  #tryChunked(head: Head): HttpResponse | undefined {
    const buffer = this.#buffer;
    const parts: Buffer[] = [];
    let at = head.bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf(crlf, at);
      if (lineEnd === -1) return undefined;
      const match = chunkSizeLine.exec(buffer.toString("latin1", at, lineEnd));
      if (match === null) throw new HttpResponseError("malformed chunk size line in the response body");
      const size = Number.parseInt(match[1] as string, 16);
      at = lineEnd + crlf.length;
      if (size === 0) break;
      if (buffer.length < at + size + crlf.length) return undefined;
      if (buffer[at + size] !== 0x0d || buffer[at + size + 1] !== 0x0a) {
        throw new HttpResponseError("chunk in the response body not followed by CRLF");
      }
      parts.push(buffer.subarray(at, at + size));
      at += size + crlf.length;
    }
    // Trailer fields, if any, end with an empty line (RFC 9112 §7.1.2); they are skipped.
    for (;;) {
      const lineEnd = buffer.indexOf(crlf, at);
      if (lineEnd === -1) return undefined;
      const empty = lineEnd === at;
      at = lineEnd + crlf.length;
      if (empty) break;
    }
    return response(head, Buffer.concat(parts), head.http11 && at === buffer.length);
  }
}

function parseHead(text: string, bodyStart: number): Head {
  const lines = text.split("\r\n");
  const match = statusLine.exec(lines[0] as string);
  if (match === null)
    throw new HttpResponseError(
      `not an HTTP/1.x status line: ${JSON.stringify((lines[0] as string).slice(0, 80))}`,
    );
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0)
      throw new HttpResponseError(`malformed response header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { status: Number(match[2]), reason: match[3] ?? "", headers, http11: match[1] === "1", bodyStart };
}

/** How the body is delimited: not at all, by a byte count, by chunks, or by the connection's end. */
function framing(head: Head, noBody: boolean): "none" | number | "chunked" | "close" {
  if (noBody || head.status === 204 || head.status === 304) return "none";
  const transferEncoding = head.headers.get("transfer-encoding");
  if (transferEncoding !== undefined) {
    if (!/(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) return "close";
    if (head.headers.has("content-length")) {
      // RFC 9112 §6.3: both present is a smuggling signature; never trust the connection after it.
      throw new HttpResponseError("response carries both Transfer-Encoding and Content-Length");
    }
    return "chunked";
  }
  const contentLength = head.headers.get("content-length");
  if (contentLength === undefined) return "close";
  if (!/^\d{1,15}$/.test(contentLength))
    throw new HttpResponseError(`invalid Content-Length: ${JSON.stringify(contentLength)}`);
  const length = Number(contentLength);
  return length === 0 ? "none" : length;
}

function response(head: Head, body: Buffer, framedAndComplete: boolean): HttpResponse {
  const connection = head.headers.get("connection")?.toLowerCase() ?? "";
  return {
    status: head.status,
    reason: head.reason,
    headers: head.headers,
    body,
    reusable: framedAndComplete && !/(?:^|,)\s*close\s*(?:,|$)/.test(connection),
    keepAliveMs: keepAliveHint(head.headers.get("keep-alive")),
  };
}

function keepAliveHint(value: string | undefined): number | undefined {
  const match = value === undefined ? null : /(?:^|,)\s*timeout\s*=\s*(\d+)/i.exec(value);
  return match === null ? undefined : Number(match[1]) * 1000;
}
