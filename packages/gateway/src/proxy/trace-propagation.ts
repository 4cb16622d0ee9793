import { injectContext } from "@flotilla/observability";

/**
 * The trace header lines for an upstream request: the active context's — the gateway's server
 * span — as `name: value\r\n` lines (W3C `traceparent`/`tracestate`, baggage, B3 when configured).
 * The client's own trace headers are not forwarded when tracing is on: they name the client's
 * span, and the upstream's span must be the gateway's child.
 */
export function propagatedTrace(): string {
  const carrier: Record<string, string> = {};
  injectContext(carrier);
  let lines = "";
  for (const name in carrier) lines += `${name}: ${carrier[name]!}\r\n`;
  return lines;
}
