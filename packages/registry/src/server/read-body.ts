import type { IncomingMessage } from "node:http";
import { RegistryErrorCode } from "../registry-error.js";
import { HttpProblem } from "./http-problem.js";

/**
 * Reads a request body of at most `limit` bytes. A larger body (by `Content-Length` before
 * reading, or while reading a chunked one) rejects with a 413 {@link HttpProblem} that also closes
 * the connection, so the rest of the body is never read. A client that goes away rejects with
 * the stream's error.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAborted = (): void => onError(new Error("the client closed the request before its body ended"));
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

function tooLarge(limit: number): HttpProblem {
  return new HttpProblem({
    status: 413,
    code: RegistryErrorCode.LimitExceeded,
    title: "Content too large",
    detail: `the request body exceeds ${limit} bytes`,
    headers: { connection: "close" },
  });
}
