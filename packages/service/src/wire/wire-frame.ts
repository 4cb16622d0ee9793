/**
 * The frames of the Flotilla wire protocol: HTTP semantics (method, path, headers, status, body)
 * multiplexed over one TCP connection per pair of processes, after an HTTP/1.1 `Upgrade` on the
 * service's own port. Each frame is
 *
 * ```text
 * u32 length (of what follows) | u8 kind | u32 call id | u32 head length | head (UTF-8 JSON) | body (UTF-8)
 * ```
 *
 * all integers big-endian. A request's head is {@link WireRequestHead}, a response's
 * {@link WireResponseHead}; `cancel` and `goaway` have neither head nor body.
 */
export const FrameKind = {
  /** A call: head {@link WireRequestHead}, body the request's JSON text (empty for none). */
  Request: 1,
  /** The answer to the call with the same id: head {@link WireResponseHead}, body the response text. */
  Response: 2,
  /** The caller gave up on the call with this id (its timeout, or its own caller went away). */
  Cancel: 3,
  /**
   * The server is shutting down: send no new calls on this connection. Calls already sent are
   * still answered (new ones with a 503 that a client retries elsewhere); the client closes the
   * connection once nothing is pending.
   */
  GoAway: 4,
} as const;

/** One of {@link FrameKind}. */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** The head of a request frame. */
export interface WireRequestHead {
  /** The contract route's name. */
  readonly r: string;
  /** The HTTP method. */
  readonly m: string;
  /** Path and query string, encoded as they would be in an HTTP request line. */
  readonly p: string;
  /** Request headers, lower-case names. */
  readonly h: Readonly<Record<string, string>>;
}

/** The head of a response frame. */
export interface WireResponseHead {
  /** The HTTP status. */
  readonly s: number;
  /** Response headers, lower-case names (`content-type`, `retry-after`, …), when there are any. */
  readonly h?: Readonly<Record<string, string>>;
}

/** Bytes before the head: length, kind, id, head length. */
export const frameHeaderBytes = 13;
/** The largest call id; ids wrap around to 1 after it. */
export const maxCallId = 0xffff_ffff;

/** Encodes one frame into a buffer of its own. */
export function encodeFrame(kind: FrameKind, id: number, head: string, body: string | undefined): Buffer {
  const headBytes = head === "" ? 0 : Buffer.byteLength(head);
  const bodyBytes = body === undefined || body === "" ? 0 : Buffer.byteLength(body);
  const frame = Buffer.allocUnsafe(frameHeaderBytes + headBytes + bodyBytes);
  frame.writeUInt32BE(9 + headBytes + bodyBytes, 0);
  frame[4] = kind;
  frame.writeUInt32BE(id, 5);
  frame.writeUInt32BE(headBytes, 9);
  if (headBytes > 0) frame.write(head, frameHeaderBytes, "utf8");
  if (bodyBytes > 0) frame.write(body!, frameHeaderBytes + headBytes, "utf8");
  return frame;
}

/** A frame without head or body (`cancel`, `goaway`). */
export function controlFrame(kind: FrameKind, id: number): Buffer {
  return encodeFrame(kind, id, "", undefined);
}

/** What a {@link FrameReader} hands its owner. */
export interface FrameSink {
  /** A whole frame. `head` and `body` are decoded UTF-8 text, `""` when empty. */
  frame(kind: number, id: number, head: string, body: string): void;
  /**
   * A frame longer than the reader's limit: its bytes are skipped as they arrive, without being
   * kept; the owner answers or fails the call `id`.
   */
  oversize(kind: number, id: number, bytes: number): void;
  /** Bytes that cannot be a frame (a length shorter than the fixed fields, a head longer than the frame). */
  malformed(reason: string): void;
}

/**
 * Cuts a byte stream into frames, across chunk boundaries, keeping at most one partial frame
 * (up to `maxFrameBytes`) in memory.
 */
export class FrameReader {
  readonly #maxFrameBytes: number;
  readonly #sink: FrameSink;
  #pending: Buffer | undefined = undefined;
  /** Bytes of an oversize frame still to skip. */
  #skip = 0;
  #failed = false;

  /** `maxFrameBytes` counts the whole frame, its 13 bytes of fixed fields included. */
  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#sink = sink;
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    if (this.#failed) return;
    let buf = chunk;
    if (this.#skip > 0) {
      if (buf.length <= this.#skip) {
        this.#skip -= buf.length;
        return;
      }
      buf = buf.subarray(this.#skip);
      this.#skip = 0;
    }
    const pending = this.#pending;
    if (pending !== undefined) {
      buf = Buffer.concat([pending, buf]);
      this.#pending = undefined;
    }
    let offset = 0;
    const end = buf.length;
    while (end - offset >= frameHeaderBytes) {
      const length = buf.readUInt32BE(offset);
      const kind = buf[offset + 4]!;
      const id = buf.readUInt32BE(offset + 5);
      if (length < 9) {
        this.#fail(`a frame of length ${length}, shorter than its fixed fields`);
        return;
      }
      if (length + 4 > this.#maxFrameBytes) {
        const available = end - offset - 4;
        if (available >= length) offset += 4 + length;
        else {
          this.#skip = length - available;
          offset = end;
        }
        this.#sink.oversize(kind, id, length + 4);
        if (this.#failed) return;
        continue;
      }
      if (end - offset - 4 < length) break;
      const headBytes = buf.readUInt32BE(offset + 9);
      if (headBytes > length - 9) {
        this.#fail(`a head of ${headBytes} bytes in a frame of ${length}`);
        return;
      }
      const headStart = offset + frameHeaderBytes;
      const bodyStart = headStart + headBytes;
      const frameEnd = offset + 4 + length;
      const head = headBytes === 0 ? "" : buf.toString("utf8", headStart, bodyStart);
      const body = bodyStart === frameEnd ? "" : buf.toString("utf8", bodyStart, frameEnd);
      offset = frameEnd;
      this.#sink.frame(kind, id, head, body);
      if (this.#failed) return;
    }
    if (offset < end) this.#pending = buf.subarray(offset);
  }

  /** Stops reading: later chunks are ignored. */
  stop(): void {
    this.#failed = true;
    this.#pending = undefined;
  }

  #fail(reason: string): void {
    this.stop();
    this.#sink.malformed(reason);
  }
}
