import type { ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";

/** Media type of an RFC 9457 problem details body. */
export const problemContentType = "application/problem+json";

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
    "content-type": problemContentType,
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}
