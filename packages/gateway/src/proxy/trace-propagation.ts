import { channel } from "node:diagnostics_channel";
import { injectContext } from "@flotilla/observability";

const requestCreate = channel("undici:request:create");
const traceHeaders = new Set(["traceparent", "tracestate", "baggage", "b3"]);

/**
 * Continues the trace upstream: drops the trace headers the client sent (they name the client's
 * span, not the gateway's) and writes the active context's instead — unless undici's diagnostics
 * channel has a subscriber, which is OpenTelemetry's undici instrumentation: it creates a client
 * span per upstream request and writes that span's context itself, and a second `traceparent`
 * would make the header invalid.
 */
export function propagateTrace(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const name = headers[i]!.toLowerCase();
    if (traceHeaders.has(name) || name.startsWith("x-b3-")) headers.splice(i, 2);
  }
  if (requestCreate.hasSubscribers) return;
  const carrier: Record<string, string> = {};
  injectContext(carrier);
  for (const name in carrier) headers.push(name, carrier[name]!);
}
