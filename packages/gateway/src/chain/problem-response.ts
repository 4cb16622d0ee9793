import type { GatewayErrorCode } from "./gateway-error.js";
import type { GatewayResponse, ResponseHeaders } from "./gateway-response.js";

/** The `type` URI of a gateway problem code. */
export function problemType(code: string): string {
  return `https://flotilla.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`;
}

/**
 * An RFC 9457 problem answer (https://www.rfc-editor.org/rfc/rfc9457). `detail` is for the
 * client: never put upstream addresses, stack traces or internal errors in it.
 */
export function problemResponse(
  status: number,
  code: GatewayErrorCode,
  title: string,
  detail: string,
  headers: ResponseHeaders = {},
  extra: Readonly<Record<string, unknown>> = {},
): GatewayResponse {
  const body = Buffer.from(
    JSON.stringify({ type: problemType(code), title, status, detail, code, ...extra }),
  );
  return {
    status,
    headers: { ...headers, "content-type": "application/problem+json", "cache-control": "no-store" },
    body,
    streamed: false,
  };
}
