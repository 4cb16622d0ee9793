import type { ServerResponse } from "node:http";
import type { HttpProblem } from "./http-problem.js";

/** The header every read answers with: the store index the answer reflects (README.md, "Conventions"). */
export const indexHeader = "x-flotilla-index";

const jsonType = "application/json; charset=utf-8";
const problemType = "application/problem+json; charset=utf-8";

/**
 * Writes `body` (an object, or JSON already serialised) with `status`; `index` adds
 * {@link indexHeader}. Does nothing when the response is already under way or the client is gone.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  index?: number,
  headers?: Readonly<Record<string, string>>,
): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("content-type", jsonType);
  res.setHeader("content-length", Buffer.byteLength(text));
  res.setHeader("cache-control", "no-store");
  if (index !== undefined) res.setHeader(indexHeader, String(index));
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
  res.end(text);
}

/**
 * Writes an RFC 9457 problem document. A problem after the headers went out (an SSE stream)
 * cannot be written any more; the connection is cut instead so the client sees the failure.
 */
export function sendProblem(res: ServerResponse, problem: HttpProblem, index?: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  const text = JSON.stringify(problem);
  res.statusCode = problem.status;
  res.setHeader("content-type", problemType);
  res.setHeader("content-length", Buffer.byteLength(text));
  res.setHeader("cache-control", "no-store");
  if (index !== undefined) res.setHeader(indexHeader, String(index));
  for (const name in problem.headers) res.setHeader(name, problem.headers[name]!);
  res.end(text);
}
