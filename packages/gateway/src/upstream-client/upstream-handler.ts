import type { Duplex, Readable } from "node:stream";

/**
 * What receives one upstream response, callback by callback — the shape of undici's dispatch
 * handler, with header lists as strings. Exactly one of `onComplete`, `onError` and `onUpgrade`
 * ends the exchange.
 */
export interface UpstreamHandler {
  /** The request is under way; `abort` cancels it (the connection is dropped). */
  onConnect(abort: (error: Error) => void): void;
  /** The final response head. Return false to pause the body until `resume` is called. */
  onHeaders(status: number, headers: string[], resume: () => void): boolean;
  /**
   * A body chunk: a view into a read buffer that the next read from any upstream socket may
   * overwrite. A handler that keeps it past this turn's microtasks, or writes it to a stream
   * (which may queue it), copies it first. Return false to pause reading.
   */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(error: Error): void;
  /** `101 Switching Protocols`: the socket now belongs to the handler. */
  onUpgrade(status: number, headers: string[], socket: Duplex): void;
}

/** One request to an upstream origin. */
export interface UpstreamRequestOptions {
  /** `http://host:port` or `https://host:port`. */
  readonly origin: string;
  /** Path and query. */
  readonly path: string;
  readonly method: string;
  /**
   * Flat `[name, value, …]` (values checked for CR, LF and NUL), or the header section already
   * serialized as `name: value\r\n` lines by a caller that checked it; hop-by-hop headers removed.
   */
  readonly headers: readonly string[] | string;
  /** With serialized `headers`: whether they set `Content-Length` (else a streamed body goes chunked). */
  readonly hasContentLength?: boolean;
  /** A whole body (its `Content-Length` among the headers), a stream, or none. */
  readonly body: Buffer | Readable | null;
  /** Time until the response head, in milliseconds. */
  readonly headersTimeout: number;
  /** Longest silence while the response body streams, in milliseconds. */
  readonly bodyTimeout: number;
  /** An `Upgrade` protocol (`websocket`) to ask for. */
  readonly upgrade?: string | undefined;
}
