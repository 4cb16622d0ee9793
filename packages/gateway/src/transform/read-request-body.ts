import type { Readable } from "node:stream";

/** What {@link readRequestBody} found: the whole body, or why it stopped. */
export type RequestBodyResult =
  | { readonly ok: true; readonly body: Buffer }
  | { readonly ok: false; readonly reason: "too-large" | "aborted" };

const tooLarge: RequestBodyResult = { ok: false, reason: "too-large" };
const aborted: RequestBodyResult = { ok: false, reason: "aborted" };

/**
 * Reads a request body into one `Buffer`, stopping as soon as it would exceed `maxBytes` (a
 * declared `content-length` over the limit is refused before reading anything). A body left
 * unread after a refusal is the server's to discard.
 */
export function readRequestBody(
  req: Readable,
  contentLength: string | undefined,
  maxBytes: number,
): Promise<RequestBodyResult> {
  if (contentLength !== undefined && Number(contentLength) > maxBytes) return Promise.resolve(tooLarge);
  if (req.readableEnded) return Promise.resolve({ ok: true, body: Buffer.alloc(0) });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: RequestBodyResult): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("aborted", onAbort);
      req.off("close", onClose);
      if (!result.ok) req.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buffer.length;
      if (size > maxBytes) finish(tooLarge);
      else chunks.push(buffer);
    };
    const onEnd = (): void =>
      finish({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    const onAbort = (): void => finish(aborted);
    const onClose = (): void => {
      if (!req.readableEnded) finish(aborted);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("aborted", onAbort);
    req.on("close", onClose);
  });
}
