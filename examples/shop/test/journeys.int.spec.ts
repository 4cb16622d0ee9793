import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { eventually } from "./eventually.ts";
import { type Answer, gatewayCall } from "./gateway-call.ts";
import { type ShopBus, type ShopHarness, startShop } from "./shop-harness.ts";

// The journeys run on the machine's RabbitMQ; SHOP_TEST_BUSES=rabbitmq,postgres runs them on the
// PostgreSQL transport too (what `flotilla up` uses by default; flotilla-up.e2e.spec.ts covers it).
const buses = (process.env.SHOP_TEST_BUSES ?? "rabbitmq").split(",") as ShopBus[];
for (const bus of buses) {
  if (bus !== "rabbitmq" && bus !== "postgres") throw new Error(`SHOP_TEST_BUSES: unknown bus "${bus}"`);
}

let shop: ShopHarness;
let startedIn = 0;

const call = gatewayCall;

const api = (path: string) => `${shop.gatewayUrl}${path}`;

const tokens = new Map<string, string>();

/** Logs in once per user: the login route is rate limited per client address. */
async function logIn(email: string): Promise<string> {
  const known = tokens.get(email);
  if (known !== undefined) return known;
  const token = await call("POST", api("/api/auth/token"), { body: { email } });
  expect(token.status).toBe(200);
  tokens.set(email, token.body.accessToken);
  return token.body.accessToken as string;
}

async function placeOrder(token: string, body: unknown): Promise<string> {
  const placed = await call("POST", api("/api/orders"), {
    token,
    body,
    headers: { "idempotency-key": randomUUID() },
  });
  expect(placed.status, JSON.stringify(placed.body)).toBe(201);
  expect(placed.body.status).toBe("pending");
  return placed.body.orderId as string;
}

const settledOrder = (token: string, orderId: string, timeoutMs?: number) =>
  eventually(
    () => call("GET", api(`/api/orders/${orderId}`), { token }),
    (answer) => answer.status === 200 && answer.body.status !== "pending",
    timeoutMs,
  );

describe.each(buses)("shop journeys through the gateway (%s bus)", (bus) => {
  beforeAll(async () => {
    tokens.clear();
    const started = performance.now();
    shop = await startShop({ bus });
    startedIn = performance.now() - started;
  });

  afterAll(async () => {
    await shop?.close();
  });

  test("log in, browse, place an order: the saga confirms it and the customer is notified once", async () => {
    const journeyStart = performance.now();
    const token = await logIn("alice@example.com");

    const products = await call("GET", api("/api/products"));
    expect(products.status).toBe(200);
    expect(products.body.products.map((p: { id: string }) => p.id)).toContain("p-mug");
    expect(products.headers.get("cache-control")).toBe("public, max-age=30");
    const again = await call("GET", api("/api/products"));
    expect(again.headers.get("cache-status")).toMatch(/hit/);

    const mug = await call("GET", api("/api/products/p-mug"));
    expect(mug.body.priceCents).toBe(1500);
    const mobile = await call("GET", api("/m/products"));
    expect(mobile.body.products[0]).toEqual({
      id: "p-espresso",
      name: "Espresso beans 1 kg",
      priceCents: 2490,
    });

    const anonymous = await call("POST", api("/api/orders"), {
      body: { items: [{ productId: "p-mug", quantity: 1 }] },
    });
    expect(anonymous.status).toBe(401);

    const orderId = await placeOrder(token, {
      items: [
        { productId: "p-mug", quantity: 2 },
        { productId: "p-espresso", quantity: 1 },
      ],
    });
    const settled = await settledOrder(token, orderId);
    expect(settled.body).toMatchObject({
      status: "confirmed",
      userId: "u-alice",
      totalCents: 2 * 1500 + 2490,
    });
    expect(settled.body.shipmentId).toEqual(expect.any(String));

    const notified = await eventually(
      () => call("GET", `${shop.url("notifications")}/orders/${orderId}/notifications`),
      (answer) => answer.body.notifications.length > 0,
    );
    expect(notified.body.notifications).toHaveLength(1);
    expect(notified.body.notifications[0].channel).toBe("push");

    const charges = await call("GET", `${shop.url("payments")}/orders/${orderId}/charges`);
    expect(charges.body.charges).toEqual([
      expect.objectContaining({ amountCents: 5490, status: "captured" }),
    ]);

    const saga = await call("GET", `${shop.ordersAdminUrl}/sagas/${orderId}`);
    expect(saga.body.state).toBe("COMPLETED");
    expect(saga.body.steps.map((step: { step: string }) => step.step)).toEqual([
      "order",
      "payment",
      "inventory",
      "shipping",
      "confirm",
    ]);

    const dashboard = await call("GET", api("/api/dashboard"), { token });
    expect(dashboard.status).toBe(200);
    expect(dashboard.body.profile.id).toBe("u-alice");
    expect(dashboard.body.orders.orders.map((o: { orderId: string }) => o.orderId)).toContain(orderId);
    expect(dashboard.body.recommendations.items).toHaveLength(2);
    expect(dashboard.body._meta?.partial ?? []).toEqual([]);

    const others = await call("GET", api(`/api/orders/${orderId}`), {
      token: await logIn("bob@example.com"),
    });
    expect(others.status).toBe(404);
    console.info(
      `shop (${bus} bus) started in ${Math.round(startedIn)} ms; happy journey took ${Math.round(performance.now() - journeyStart)} ms`,
    );
  });

  test("recommendations failing: the dashboard degrades to its fallback and the breaker opens", async () => {
    const token = await logIn("bob@example.com");
    shop.recommendationsFaults.failureRate = 1;
    try {
      const dashboard = await call("GET", api("/api/dashboard"), { token });
      expect(dashboard.status).toBe(200);
      expect(dashboard.body.profile.id).toBe("u-bob");
      expect(dashboard.body.recommendations).toEqual({ items: [] });
      expect(dashboard.body._meta.partial).toEqual(["recommendations"]);

      const codes: string[] = [];
      for (let i = 0; i < 7; i++) {
        const answer = await call("GET", api("/api/recommendations"), { token });
        expect(answer.status).toBe(503);
        codes.push(answer.body.code);
      }
      // The model's own 503s until the breaker has seen enough of them, then the gateway's.
      expect(codes.slice(0, 5)).toEqual(Array(5).fill("RECOMMENDATIONS_UNAVAILABLE"));
      expect(codes.at(-1)).toBe("FLT_GATEWAY_UNAVAILABLE");
    } finally {
      shop.recommendationsFaults.failureRate = 0;
    }
  });

  test("a user over the per-user rate limit gets a clean 429 problem with Retry-After", async () => {
    const token = await logIn("bob@example.com");
    let refused: Answer | undefined;
    for (let i = 0; i < 60 && refused === undefined; i++) {
      const answer = await call("GET", api("/api/me"), { token });
      if (answer.status === 429) refused = answer;
      else expect(answer.status).toBe(200);
    }
    expect(refused?.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(refused?.body).toMatchObject({
      code: "FLT_GATEWAY_RATE_LIMITED",
      "violated-policies": ["per-user"],
    });
    expect(Number(refused?.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another user's budget is untouched.
    const alice = await call("GET", api("/api/me"), { token: await logIn("alice@example.com") });
    expect(alice.status).toBe(200);
  });

  test("reviews: anyone reads them, only a logged-in user writes one", async () => {
    const anonymous = await call("PUT", api("/api/products/p-mug/reviews/mine"), {
      body: { rating: 5, body: "lovely" },
    });
    expect(anonymous.status).toBe(401);
    const token = await logIn("alice@example.com");
    const written = await call("PUT", api("/api/products/p-mug/reviews/mine"), {
      token,
      body: { rating: 5, body: "lovely" },
    });
    expect(written.status).toBe(200);
    const listed = await call("GET", api("/api/products/p-mug/reviews"));
    expect(listed.body.reviews).toEqual([
      expect.objectContaining({ userId: "u-alice", rating: 5, body: "lovely" }),
    ]);
  });

  test("a declined card cancels the order and charges nothing", async () => {
    const token = await logIn("bob@example.com");
    const orderId = await placeOrder(token, {
      items: [{ productId: "p-kettle", quantity: 1 }],
      paymentMethod: "tok_declined",
    });
    const settled = await settledOrder(token, orderId);
    expect(settled.body.status).toBe("cancelled");
    expect(settled.body.cancelReason).toBe("PAYMENTS_DECLINED: the card was declined");
    const charges = await call("GET", `${shop.url("payments")}/orders/${orderId}/charges`);
    expect(charges.body.charges).toEqual([]);
    const saga = await call("GET", `${shop.ordersAdminUrl}/sagas/${orderId}`);
    expect(saga.body.state).toBe("COMPENSATED");
  });

  test("a retried order with the same Idempotency-Key is placed and charged once", async () => {
    const token = await logIn("alice@example.com");
    const request = {
      token,
      body: { items: [{ productId: "p-kettle", quantity: 1 }] },
      headers: { "idempotency-key": randomUUID() },
    };
    const first = await call("POST", api("/api/orders"), request);
    const retry = await call("POST", api("/api/orders"), request);
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body.orderId).toBe(first.body.orderId);
    await settledOrder(token, first.body.orderId);
    const mine = await call("GET", api("/api/users/u-alice/orders?limit=50"), { token });
    expect(
      mine.body.orders.filter((o: { orderId: string }) => o.orderId === first.body.orderId),
    ).toHaveLength(1);
    const charges = await call("GET", `${shop.url("payments")}/orders/${first.body.orderId}/charges`);
    expect(charges.body.charges).toHaveLength(1);
  });

  test("an order that leaves a product low triggers a restock (stock.low through the outbox)", async () => {
    const token = await logIn("bob@example.com");
    const before = await call("GET", `${shop.url("inventory")}/stock/p-grinder`);
    expect(before.body.available).toBe(6); // seeded: 6, restock threshold 3
    const orderId = await placeOrder(token, { items: [{ productId: "p-grinder", quantity: 4 }] });
    expect((await settledOrder(token, orderId)).body.status).toBe("confirmed");
    const restocked = await eventually(
      () => call("GET", `${shop.url("inventory")}/stock/p-grinder`),
      (answer) => answer.body.available !== 2,
    );
    expect(restocked.body.available).toBe(2 + 20);
  });

  test("no stock after the charge: the saga refunds the payment and the stock is untouched", async () => {
    const token = await logIn("alice@example.com");
    const before = await call("GET", `${shop.url("inventory")}/stock/p-grinder`);
    const orderId = await placeOrder(token, { items: [{ productId: "p-grinder", quantity: 50 }] });
    const settled = await settledOrder(token, orderId);
    expect(settled.body.status).toBe("cancelled");
    expect(settled.body.cancelReason).toMatch(/^INVENTORY_OUT_OF_STOCK: .*not enough p-grinder/);
    const charges = await call("GET", `${shop.url("payments")}/orders/${orderId}/charges`);
    expect(charges.body.charges).toEqual([expect.objectContaining({ status: "refunded" })]);
    const after = await call("GET", `${shop.url("inventory")}/stock/p-grinder`);
    expect(after.body.available).toBe(before.body.available);
    const notified = await call("GET", `${shop.url("notifications")}/orders/${orderId}/notifications`);
    expect(notified.body.notifications).toEqual([]);
  });
  test("a charge whose answer is lost is refunded: the saga compensates the uncertain payment by order", async () => {
    const token = await logIn("bob@example.com");
    const before = await call("GET", `${shop.url("inventory")}/stock/p-mug`);
    // Payments records the charge, then holds its answer past every attempt of the saga's step.
    shop.paymentsAnswerDelay.ms = 60_000;
    let orderId: string;
    let settled: Answer;
    try {
      orderId = await placeOrder(token, { items: [{ productId: "p-mug", quantity: 1 }] });
      settled = await settledOrder(token, orderId, 40_000);
    } finally {
      shop.paymentsAnswerDelay.ms = 0;
    }
    expect(settled.body.status).toBe("cancelled");
    const saga = await call("GET", `${shop.ordersAdminUrl}/sagas/${orderId}`);
    expect(saga.body.state).toBe("COMPENSATED");
    const log = saga.body.steps.map((s: { step: string; kind: string; status: string }) => ({
      step: s.step,
      kind: s.kind,
      status: s.status,
    }));
    expect(log).toContainEqual({ step: "payment", kind: "invoke", status: "failed" });
    expect(log).toContainEqual({ step: "payment", kind: "compensate", status: "succeeded" });
    expect(log.some((s: { step: string }) => s.step === "inventory")).toBe(false);

    // The charge happened (its answer was lost) and was refunded, once.
    const charges = await call("GET", `${shop.url("payments")}/orders/${orderId}/charges`);
    expect(charges.body.charges).toEqual([
      expect.objectContaining({ amountCents: 1500, status: "refunded" }),
    ]);
    // A charge of the order arriving now (a retry still in flight) is refused: the order is closed.
    const late = await call("POST", `${shop.url("payments")}/charges`, {
      body: { orderId, amountCents: 1500, paymentMethod: "tok_visa" },
    });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("PAYMENTS_ORDER_CLOSED");
    const after = await call("GET", `${shop.url("inventory")}/stock/p-mug`);
    expect(after.body.available).toBe(before.body.available);
  }, 60_000);

  test("compensations by order: nothing to undo is a no-op that closes the order to late effects", async () => {
    const orderId = randomUUID();
    const refunded = await call("POST", `${shop.url("payments")}/orders/${orderId}/refund`);
    expect(refunded.status).toBe(200);
    expect(refunded.body).toEqual({ orderId, charges: [] });
    const lateCharge = await call("POST", `${shop.url("payments")}/charges`, {
      body: { orderId, amountCents: 990, paymentMethod: "tok_visa" },
    });
    expect(lateCharge.body.code).toBe("PAYMENTS_ORDER_CLOSED");
    expect((await call("GET", `${shop.url("payments")}/orders/${orderId}/charges`)).body.charges).toEqual([]);

    // A reservation that did happen is released by order, and only once.
    const stock = async () => (await call("GET", `${shop.url("inventory")}/stock/p-kettle`)).body.available;
    const before = await stock();
    const reserved = await call("POST", `${shop.url("inventory")}/reservations`, {
      body: { orderId, items: [{ sku: "p-kettle", quantity: 2 }] },
    });
    expect(reserved.status).toBe(201);
    expect(await stock()).toBe(before - 2);
    for (let i = 0; i < 2; i++) {
      const released = await call("POST", `${shop.url("inventory")}/orders/${orderId}/release`);
      expect(released.body).toEqual({
        orderId,
        reservations: [{ reservationId: reserved.body.reservationId, status: "released" }],
      });
      expect(await stock()).toBe(before);
    }
    const lateReservation = await call("POST", `${shop.url("inventory")}/reservations`, {
      body: { orderId, items: [{ sku: "p-kettle", quantity: 1 }] },
    });
    expect(lateReservation.status).toBe(409);
    expect(lateReservation.body.code).toBe("INVENTORY_ORDER_RELEASED");
    expect(await stock()).toBe(before);
  });
});
