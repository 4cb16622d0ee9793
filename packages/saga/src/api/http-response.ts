import type { IncomingMessage, ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";

/** Sends `body` as `application/json` with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/**
 * Sends an RFC 9457 problem (`type`, `title`, `status`, `detail`) as `application/problem+json`;
 * `headers` adds e.g. `allow` for a 405 or `connection: close` for a 413.
 */
export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify({
    type: "about:blank",
    title: STATUS_CODES[status] ?? "Error",
    status,
    detail,
  });
  res.writeHead(status, {
    ...headers,
    "content-type": "application/problem+json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** A request body read as JSON (`undefined` when empty), or why it could not be. */
export type JsonBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly status: 400 | 413; readonly detail: string };

/**
 * Reads the request body as UTF-8 JSON, at most `limit` bytes; an empty body is `undefined`. A
 * larger body (by `content-length` or once the bytes read pass the limit) stops reading and yields
 * 413; the rest is drained and discarded so the answer can still be written.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonBody> {
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
        resolve({ ok: true, value: undefined });
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
