import type { Duplex } from "node:stream";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import { problemType } from "../chain/problem-response.js";

const answers: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large", "FLT_GATEWAY_HEADERS_TOO_LARGE"],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "FLT_GATEWAY_REQUEST_TIMEOUT"],
};

/**
 * Answers a request Node's HTTP parser refused — malformed request line or header, CR/LF in a
 * header, conflicting `Content-Length` and `Transfer-Encoding` (request smuggling), headers too
 * large, a client too slow — with a problem document and `Connection: close`, and logs why. The
 * connection cannot be trusted after a parse error, so it is always closed.
 */
export function answerClientError(
  error: Error & { code?: string },
  socket: Duplex,
  logger: GatewayLogger,
): void {
  const code = error.code ?? "UNKNOWN";
  if (code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, title, problemCode] = answers[code] ?? [400, "Bad Request", "FLT_GATEWAY_BAD_REQUEST"];
  logger.info(
    { code, status, client: (socket as { remoteAddress?: string }).remoteAddress, reason: error.message },
    "refused a malformed request",
  );
  const body = JSON.stringify({
    type: problemType(problemCode),
    title,
    status,
    detail: status === 400 ? "the request could not be parsed" : title,
    code: problemCode,
  });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
