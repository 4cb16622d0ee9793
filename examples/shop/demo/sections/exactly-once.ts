import { instanceOf, type ViewSpan } from "../collector.ts";
import type { TourContext } from "../tour-context.ts";
import type { PlacedOrder } from "./idempotent-retry.ts";

const eventType = "shop.order.confirmed";

function isDeliveryOf(span: ViewSpan): boolean {
  return span.service === "notifications" && span.name === `process ${eventType}`;
}

/**
 * An event consumed exactly once: the saga's last step writes `order.confirmed` to the orders
 * outbox in the order's transaction; the relay publishes it and notifications consumes it through
 * its inbox. The consumer spans of the order's trace show each delivery and how it was settled
 * (`acked` applied it, `duplicate` found it in the inbox and skipped it).
 */
export async function exactlyOnce(ctx: TourContext, order: PlacedOrder | undefined): Promise<void> {
  const { out } = ctx;
  out.section(
    6,
    "An event consumed exactly once (outbox → bus → inbox)",
    "The order's saga ends by writing order.confirmed to the orders outbox in the same transaction that\n" +
      "confirms the order. The relay publishes it; notifications handles it in one transaction with its\n" +
      "inbox, which records the event id, so a redelivered copy is recognised and skipped. The consumer\n" +
      "spans in the order's trace show every delivery and how it was settled.",
  );
  if (order === undefined || !order.confirmed) {
    out.verdict(false, "no confirmed order from the previous section to follow");
    return;
  }
  const trace = await ctx.collector.waitForTrace(order.traceId, (t) => t.spans.some(isDeliveryOf), 10_000);
  const deliveries = (trace?.spans ?? []).filter(isDeliveryOf);
  for (const span of deliveries) {
    out.info(
      `${instanceOf(span)}  ${span.name}  event ${String(span.attributes["messaging.message.id"])}  ` +
        `consumer ${String(span.attributes["messaging.consumer.group.name"])}  → ${String(span.attributes["flotilla.messaging.outcome"])}`,
    );
  }
  const saga = await ctx.sagas.saga(order.orderId);
  const confirms = (saga?.steps ?? []).filter((s) => s.step === "confirm" && s.status === "succeeded").length;
  out.info(`the saga's confirm step (which publishes the event) succeeded ${confirms} time(s)`);
  const applied = deliveries.filter((s) => s.attributes["flotilla.messaging.outcome"] === "acked");
  const events = new Set(deliveries.map((s) => String(s.attributes["messaging.message.id"])));
  const ok = applied.length === 1 && events.size === 1 && deliveries.every((s) => s.status.code !== 2);
  out.verdict(
    ok,
    ok
      ? `order.confirmed ${[...events][0]} applied once by notifications (${deliveries.length} deliver${deliveries.length === 1 ? "y" : "ies"}, ${deliveries.length - 1} skipped as duplicate)`
      : deliveries.length === 0
        ? `no notifications consumer span for order ${order.orderId} arrived within 10 s`
        : `expected one applied delivery of one event, saw ${applied.length} applied of ${deliveries.length} (${events.size} event ids)`,
  );
}
