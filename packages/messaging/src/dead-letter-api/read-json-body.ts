import type { IncomingMessage } from "node:http";

/** A request body read as JSON, or why it could not be: a status and a readable detail. */
export type JsonBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly status: 400 | 413; readonly detail: string };

/**
 * Reads the request body as UTF-8 JSON, at most `limit` bytes. A larger body (by `content-length`
 * or once the bytes read pass the limit) stops reading and yields 413; the rest of the body is
 * drained and discarded so the answer can still be written. An empty body is a 400 unless
 * `allowEmpty`, which reads it as `undefined`. Shared by the HTTP admin APIs (dead letters, sagas).
 */
export function readJsonBody(
  req: IncomingMessage,
  limit: number,
  options: { readonly allowEmpty?: boolean } = {},
): Promise<JsonBody> {
  const tooLarge = { ok: false, status: 413, detail: `the request body is over ${limit} bytes` } as const;
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve(tooLarge);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData).off("end", onEnd);
        req.resume();
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "") {
        resolve(
          options.allowEmpty === true
            ? { ok: true, value: undefined }
            : { ok: false, status: 400, detail: "the request body is empty; expected JSON" },
        );
        return;
      }
      try {
        resolve({ ok: true, value: JSON.parse(text) });
      } catch (error) {
        resolve({
          ok: false,
          status: 400,
          detail: `the request body is not valid JSON: ${(error as Error).message}`,
        });
      }
    };
    req.on("data", onData).on("end", onEnd);
    req.on("error", () => resolve({ ok: false, status: 400, detail: "the request body could not be read" }));
  });
}
