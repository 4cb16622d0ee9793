import { randomUUID } from "node:crypto";
import { newTraceId } from "../http-call.ts";
import type { TourContext } from "../tour-context.ts";

/** The order the retry section placed, for the sections that follow it. */
export interface PlacedOrder {
  readonly orderId: string;
  /** The trace of the first (real) request: the order, its saga and the events it caused. */
  readonly traceId: string;
  /** Whether its saga completed (the order is confirmed). */
  readonly confirmed: boolean;
}

/**
 * A retried idempotent call: `POST /api/orders` twice with the same `Idempotency-Key`, as a
 * client does when the first answer got lost. The retry gets the stored answer
 * (`idempotent-replayed: true`): one order, one saga, one charge.
 */
export async function idempotentRetry(ctx: TourContext): Promise<PlacedOrder | undefined> {
  const { out, gateway, shopper } = ctx;
  out.section(
    5,
    "A retried idempotent call",
    "The client places an order with an Idempotency-Key, loses the answer (say, a timeout) and sends the\n" +
      "same request again. The orders service stores the first answer under the key and replays it: the\n" +
      "retry creates nothing. (The saga's calls to payments, inventory and shipping carry the step's key\n" +
      "the same way, so a retried step is applied once.)",
  );
  const key = randomUUID();
  const body = { items: [{ productId: "p-mug", quantity: 2 }] };
  const traceId = newTraceId();
  const retryTraceId = newTraceId();
  const headers = { "idempotency-key": key };
  const first = await gateway.call("/api/orders", {
    method: "POST",
    token: shopper.token,
    body,
    headers,
    traceId,
  });
  const orderId = (first.body as { orderId?: string } | undefined)?.orderId;
  out.info(`Idempotency-Key: ${key}`);
  out.request("POST", "/api/orders", first, `order ${orderId ?? JSON.stringify(first.body)}`);
  const retry = await gateway.call("/api/orders", {
    method: "POST",
    token: shopper.token,
    body,
    headers,
    traceId: retryTraceId,
  });
  const retryId = (retry.body as { orderId?: string } | undefined)?.orderId;
  const replayed = retry.headers.get("idempotent-replayed");
  out.request(
    "POST",
    "/api/orders",
    retry,
    `order ${retryId}  idempotent-replayed: ${replayed ?? "(absent)"}`,
  );
  if (orderId === undefined) {
    out.verdict(false, `placing the order answered ${first.status}`);
    return undefined;
  }

  const saga = await ctx.sagas.waitFor(orderId, ["COMPLETED", "COMPENSATED", "FAILED_COMPENSATION"]);
  const list = await gateway.call(`/api/users/${shopper.id}/orders?limit=50`, { token: shopper.token });
  const orders = (list.body as { orders?: { orderId: string; status: string }[] } | undefined)?.orders ?? [];
  const mine = orders.filter((o) => o.orderId === orderId);
  out.request(
    "GET",
    "/api/users/:id/orders",
    list,
    `${mine.length} order ${orderId} (${mine[0]?.status ?? "?"})`,
  );

  const retryTrace = await ctx.collector.waitForTrace(retryTraceId, (t) =>
    t.spans.some((s) => s.service === "orders"),
  );
  const retrySpans = retryTrace?.spans ?? [];
  const sagaStarted = retrySpans.some((s) => s.name.startsWith("saga "));
  const called = [...new Set(retrySpans.map((s) => s.service))].join(", ") || "nothing";
  out.info(
    `the retry's trace: ${retrySpans.length} spans in ${called}; ${sagaStarted ? "it STARTED A SAGA" : "no catalog call, no saga: the stored answer"}`,
  );
  out.info(`the order's saga: ${saga?.state ?? "not found"}`);

  const ok =
    first.status === 201 &&
    retry.status === 201 &&
    retryId === orderId &&
    replayed === "true" &&
    mine.length === 1 &&
    retryTrace !== undefined &&
    !sagaStarted;
  out.verdict(
    ok,
    ok
      ? "the retry got the same order back (replayed), and the shop holds one order with one saga"
      : `expected the same order id replayed and one order; got ${retryId} (replayed: ${replayed}), ${mine.length} orders, saga started by the retry: ${sagaStarted}`,
  );
  return { orderId, traceId, confirmed: saga?.state === "COMPLETED" };
}
