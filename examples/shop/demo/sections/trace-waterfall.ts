import { renderWaterfall } from "@flotilla/observability";
import type { TraceJson } from "../collector.ts";
import type { TourContext } from "../tour-context.ts";
import { useColors } from "../tour-output.ts";
import type { PlacedOrder } from "./idempotent-retry.ts";

const expectedServices = ["orders", "catalog", "payments", "inventory", "shipping", "notifications"];

/**
 * A trace waterfall: the confirmed order's whole trace — the request, the saga's steps calling
 * payments, inventory and shipping, and the notification consumer — as the collector holds it,
 * drawn by `renderWaterfall` (database spans left out to keep it short).
 */
export async function traceWaterfall(ctx: TourContext, order: PlacedOrder | undefined): Promise<void> {
  const { out } = ctx;
  out.section(
    7,
    "A trace waterfall",
    "Every service exports its spans to the embedded collector; the trace context travels in HTTP\n" +
      "headers, in the saga's row and in the event's envelope, so one order is one trace across six services.",
  );
  if (order === undefined) {
    out.verdict(false, "no order from section 5 to show");
    return;
  }
  const trace = await ctx.collector.waitForTrace(order.traceId, (t) =>
    expectedServices.every((service) => t.spans.some((s) => s.service === service)),
  );
  if (trace === undefined) {
    out.verdict(false, `the collector has no trace ${order.traceId}`);
    return;
  }
  const shown: TraceJson = {
    ...trace,
    spans: trace.spans
      .filter((s) => !s.name.startsWith("pg."))
      // The request's parent is the demo's own client span, which is never exported: not a lost span.
      .map((s) => (s.depth === 0 && s.spanId === trace.spans[0]?.spanId ? { ...s, orphan: false } : s)),
  };
  const hidden = trace.spans.length - shown.spans.length;
  const width = Math.max(80, Math.min(process.stdout.columns ?? 120, 160) - 3);
  out.block(renderWaterfall(shown, { width, colors: useColors }));
  out.info(`(${hidden} database spans left out; \`npx flotilla trace ${order.traceId}\` shows them all)`);
  const missing = expectedServices.filter((service) => !trace.spans.some((s) => s.service === service));
  out.verdict(
    missing.length === 0,
    missing.length === 0
      ? `one trace, ${trace.spans.length} spans across ${expectedServices.length} services, ${trace.durationMs.toFixed(0)} ms from the request to the notification`
      : `the trace lacks spans of ${missing.join(", ")}`,
  );
}
