import type { IncomingMessage } from "node:http";
import { createGunzip, type Gunzip } from "node:zlib";
import { BodyTooLargeError, OtlpDecodeError, UnsupportedMediaTypeError } from "./collector-error.js";

/** The outcome of {@link readRequestBody}. */
export type RequestBody =
  | { readonly ok: true; readonly body: Buffer }
  | {
      readonly ok: false;
      /** A `BodyTooLargeError`, `UnsupportedMediaTypeError` or `OtlpDecodeError` (bad gzip), or the socket's error. */
      readonly error: unknown;
      /**
       * True when the rest of the request was read and thrown away, so the connection can carry the
       * answer and stay open; false when the client sent too much after the limit (or went away) and
       * the connection must be closed after answering.
       */
      readonly drained: boolean;
    };

/**
 * Reads a request body into one buffer, decompressing `content-encoding: gzip` as it streams in.
 * `maxBytes` bounds both the bytes on the wire and the decompressed bytes, and is enforced chunk by
 * chunk: nothing past the limit is kept, so a gzip bomb costs at most `maxBytes` of memory. After a
 * failure the rest of the body is read and discarded, up to `4 × maxBytes` more, so the client
 * sees the answer instead of a reset connection. Never rejects.
 */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<RequestBody> {
  const { promise, resolve } = Promise.withResolvers<RequestBody>();
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const gzip = encoding === "gzip" || encoding === "x-gzip";
  const discardLimit = maxBytes * 4;
  let settled = false;
  let failure: unknown;
  let ended = false;
  let wireBytes = 0;
  let discarded = 0;
  let size = 0;
  let chunks: Buffer[] = [];
  let gunzip: Gunzip | undefined;

  const settle = (result: RequestBody): void => {
    if (settled) return;
    settled = true;
    req.off("data", onData);
    req.off("end", onEnd);
    if (!result.ok && !result.drained) req.pause();
    resolve(result);
  };
  const fail = (error: unknown): void => {
    if (failure !== undefined || settled) return;
    failure = error;
    chunks = [];
    gunzip?.destroy();
    if (ended) settle({ ok: false, error, drained: true });
  };
  const collect = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > maxBytes) fail(new BodyTooLargeError(maxBytes, gzip));
    else chunks.push(chunk);
  };
  const onData = (chunk: Buffer): void => {
    wireBytes += chunk.length;
    if (failure !== undefined) {
      discarded += chunk.length;
      if (discarded > discardLimit) settle({ ok: false, error: failure, drained: false });
      return;
    }
    if (wireBytes > maxBytes) fail(new BodyTooLargeError(maxBytes, false));
    else if (gunzip) gunzip.write(chunk);
    else collect(chunk);
  };
  const onEnd = (): void => {
    ended = true;
    if (failure !== undefined) settle({ ok: false, error: failure, drained: true });
    else if (gunzip) gunzip.end();
    else settle({ ok: true, body: Buffer.concat(chunks, size) });
  };

  if (encoding !== "identity" && !gzip) {
    fail(new UnsupportedMediaTypeError(`content-encoding "${encoding}" is not supported; use gzip or none`));
  }
  const declared = Number(req.headers["content-length"]);
  if (failure === undefined && Number.isFinite(declared) && declared > maxBytes) {
    fail(new BodyTooLargeError(maxBytes, false));
    // Not worth reading only to throw away: answer at once and close.
    if (declared > maxBytes + discardLimit) {
      settle({ ok: false, error: failure, drained: false });
      return promise;
    }
  }
  if (gzip && failure === undefined) {
    gunzip = createGunzip();
    gunzip.on("data", (chunk: Buffer) => {
      if (failure === undefined) collect(chunk);
    });
    gunzip.on("end", () => {
      if (failure === undefined) settle({ ok: true, body: Buffer.concat(chunks, size) });
    });
    gunzip.on("error", (error) => {
      fail(new OtlpDecodeError("body", `invalid gzip data: ${error.message}`, { cause: error }));
    });
  }
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", (error) => settle({ ok: false, error, drained: false }));
  req.on("close", () => {
    if (!ended) {
      gunzip?.destroy();
      settle({ ok: false, error: failure ?? new Error("the client closed the connection"), drained: false });
    }
  });
  return promise;
}
