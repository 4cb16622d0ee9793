import { type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";

/** The fields of Node's `ServerResponse` (node:_http_outgoing, Node 24) this writer reads and sets. */
interface ResponseInternals {
  _header: string | null;
  _headerSent: boolean;
  _hasBody: boolean;
  _last: boolean;
  _removedConnection: boolean;
  _keepAliveTimeout: number;
  _defaultKeepAlive: boolean;
  _maxRequestsPerSocket?: number;
  useChunkedEncodingByDefault: boolean;
  maxRequestsOnConnectionReached: boolean;
  outputData: unknown[];
}

/** Largest body written this way; a larger one goes through `ServerResponse` as before. */
const maxDirectBody = 64 * 1024;
// node:_http_outgoing's checkInvalidHeaderChar and checkIsHttpToken.
const invalidValueChar = /[^\t\x20-\x7e\x80-\xff]/;
const token = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const statusLines = new Map<number, string>();
let dateSecond = -1;
let dateValue = "";

/**
 * Writes a whole HTTP/1.x response — status line, `headers` (a flat `[name, value, …]` list) and
 * `body` — to the client's socket as one latin1 string, one `write`, and then ends `res` with
 * nothing left to send, so that Node's server does its keep-alive and pipelining bookkeeping as
 * after any response. The head is what `writeHead` + `end(body)` would have produced for it —
 * `Date`, `Connection`/`Keep-Alive` and the `close` decision by Node's rules — except that the
 * length of a body known whole is always sent as `Content-Length` (Node would chunk it).
 *
 * Why: `ServerResponse`'s header processing, writable-stream bookkeeping and second `writev`
 * chunk are about a tenth of a proxied request's CPU (bench/gateway). It relies on
 * `ServerResponse` fields of Node 24 (`_header`, `_headerSent`, `_last`, …): when one is missing,
 * when the response is not the socket's current one (pipelining), when something was written
 * already, or when `added` (the layers' headers) holds an invalid or framing header, it writes
 * nothing and returns `false`, and the caller uses `writeHead`/`end`.
 */
export function writeDirectResponse(
  res: ServerResponse,
  status: number,
  headers: readonly string[],
  added: Readonly<Record<string, string>>,
  body: Buffer | undefined,
): boolean {
  const internals = res as unknown as ResponseInternals;
  const socket = res.socket as (Socket & { _httpMessage?: unknown }) | null;
  if (
    internals._header !== null ||
    internals._headerSent !== false ||
    internals._removedConnection !== false ||
    internals.outputData?.length !== 0 ||
    socket === null ||
    socket._httpMessage !== res ||
    !socket.writable ||
    res.destroyed ||
    (body !== undefined && body.length > maxDirectBody)
  ) {
    return false;
  }
  for (const name in added) {
    const lower = name.toLowerCase();
    if (
      !token.test(name) ||
      invalidValueChar.test(added[name]!) ||
      lower === "connection" ||
      lower === "transfer-encoding" ||
      lower === "content-length"
    ) {
      return false;
    }
  }
  let head = statusLine(status);
  let hasDate = false;
  let hasLength = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 4) hasDate ||= name.toLowerCase() === "date";
    else if (name.length === 14) hasLength ||= name.toLowerCase() === "content-length";
    head += `${name}: ${headers[i + 1]!}\r\n`;
  }
  if (res.sendDate && !hasDate) head += `Date: ${httpDate()}\r\n`;
  // RFC 9110 §6.4.1: no content for 1xx, 204 and 304, nor for a HEAD request (Node's `_hasBody`).
  const bodyAllowed = internals._hasBody && status !== 204 && status !== 304 && status >= 200;
  const length = bodyAllowed ? (body?.length ?? 0) : 0;
  if (bodyAllowed && !hasLength) {
    head += `Content-Length: ${length}\r\n`;
    hasLength = true;
  }
  // node:_http_outgoing `_storeHeader`'s keep-alive logic, for a head without a Connection header.
  if (res.shouldKeepAlive && (hasLength || internals.useChunkedEncodingByDefault)) {
    if (internals.maxRequestsOnConnectionReached) head += "Connection: close\r\n";
    else {
      head += "Connection: keep-alive\r\n";
      if (internals._keepAliveTimeout && internals._defaultKeepAlive) {
        const max = internals._maxRequestsPerSocket ?? 0;
        head += `Keep-Alive: timeout=${Math.floor(internals._keepAliveTimeout / 1000)}${max > 0 ? `, max=${max}` : ""}\r\n`;
      }
    }
  } else {
    internals._last = true;
    head += "Connection: close\r\n";
  }
  head += "\r\n";
  res.statusCode = status;
  internals._header = head;
  internals._headerSent = true;
  socket.write(length > 0 ? head + body!.toString("latin1") : head, "latin1");
  res.end();
  return true;
}

function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n`;
    if (statusLines.size < 1000) statusLines.set(status, line);
  }
  return line;
}

/** The IMF-fixdate of now (RFC 9110 §5.6.7), computed once a second as Node's server does. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}
