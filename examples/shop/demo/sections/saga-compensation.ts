import type { ShopUser } from "../gateway.ts";
import { formatSteps, type SagaJson } from "../saga-admin.ts";
import type { TourContext } from "../tour-context.ts";

interface Scenario {
  readonly label: string;
  readonly body: { items: { productId: string; quantity: number }[]; paymentMethod?: string };
  /** The step log's entries, in order, that show the compensation (step/kind/status). */
  readonly expected: readonly string[];
}

const scenarios: readonly Scenario[] = [
  {
    label: "a declined card (paymentMethod tok_declined)",
    body: { items: [{ productId: "p-kettle", quantity: 1 }], paymentMethod: "tok_declined" },
    expected: ["payment/invoke/failed", "order/compensate/succeeded"],
  },
  {
    label: "paid, then out of stock (100 grinders; 6 in stock): the charge is refunded",
    body: { items: [{ productId: "p-grinder", quantity: 100 }] },
    expected: [
      "payment/invoke/succeeded",
      "inventory/invoke/failed",
      "payment/compensate/succeeded",
      "order/compensate/succeeded",
    ],
  },
];

/** True when `expected` occurs in `steps` in this order (other entries may lie between). */
function inOrder(saga: SagaJson, expected: readonly string[]): boolean {
  let next = 0;
  for (const s of saga.steps ?? []) {
    if (next < expected.length && `${s.step}/${s.kind}/${s.status}` === expected[next]) next++;
  }
  return next === expected.length;
}

async function run(ctx: TourContext, user: ShopUser, scenario: Scenario): Promise<string | undefined> {
  const { out, gateway } = ctx;
  out.info(`${scenario.label}:`);
  const placed = await gateway.call("/api/orders", {
    method: "POST",
    token: user.token,
    body: scenario.body,
  });
  const orderId = (placed.body as { orderId?: string } | undefined)?.orderId;
  out.request(
    "POST",
    "/api/orders",
    placed,
    orderId === undefined ? JSON.stringify(placed.body) : `order ${orderId}`,
  );
  if (placed.status !== 201 || orderId === undefined) return `placing the order answered ${placed.status}`;

  const saga = await ctx.sagas.waitFor(orderId, ["COMPENSATED", "COMPLETED", "FAILED_COMPENSATION"]);
  const order = await gateway.call(`/api/orders/${orderId}`, { token: user.token });
  const { status, cancelReason } = order.body as { status?: string; cancelReason?: string | null };
  out.request("GET", "/api/orders/:id", order, `status ${status}${cancelReason ? ` — ${cancelReason}` : ""}`);
  if (saga === undefined) return `no saga ${orderId} on the orders admin API`;
  out.info(`  saga ${saga.type} ${saga.id}: ${saga.state}`);
  out.block(formatSteps(saga.steps ?? []).replace(/^/gm, "    "));
  if (saga.state !== "COMPENSATED") return `the saga ended ${saga.state}, not COMPENSATED`;
  if (status !== "cancelled") return `the order is ${status}, not cancelled`;
  if (!inOrder(saga, scenario.expected)) return `the step log lacks ${scenario.expected.join(" → ")}`;
  return undefined;
}

/**
 * A failed payment compensated by the saga: an order paid with a declined card ends cancelled,
 * and an order whose reservation fails after the charge gets the charge refunded — compensations
 * run in reverse order of the steps that succeeded.
 */
export async function sagaCompensation(ctx: TourContext): Promise<void> {
  ctx.out.section(
    4,
    "Saga compensation (order → payment → inventory → shipping)",
    "POST /api/orders stores the order and starts the order saga in one transaction (201, pending).\n" +
      "When a step fails for good, the saga runs the compensations of the steps done, in reverse:\n" +
      "refund the charge, release stock, cancel the order. The step log comes from the orders admin API.",
  );
  const problems: string[] = [];
  for (const scenario of scenarios) {
    const problem = await run(ctx, ctx.shopper, scenario);
    if (problem !== undefined) problems.push(problem);
  }
  ctx.out.verdict(
    problems.length === 0,
    problems.length === 0
      ? "both orders cancelled, their sagas COMPENSATED: the declined order cancelled, the paid one refunded"
      : problems.join("; "),
  );
}
