import { randomUUID } from "node:crypto";

/** The gateway routes the traffic uses (ids of examples/shop/gateway.yaml). */
export type TrafficRoute = "place-order" | "dashboard" | "me";

/** One answer the gateway gave (or did not give) to a client. */
export interface Outcome {
  readonly route: TrafficRoute;
  /** HTTP status; 0 when the request failed without an answer or hit the client's time limit. */
  readonly status: number;
  readonly contentType: string;
  readonly latencyMs: number;
  /** The order id of an accepted (201) order. */
  readonly orderId?: string;
  /** Why there was no answer (network error, client time limit). */
  readonly error?: string;
}

/** Options of {@link runTraffic}. */
export interface TrafficOptions {
  readonly gatewayUrl: string;
  /** One bearer token per client; each client places orders in a loop. */
  readonly tokens: readonly string[];
  /** Time between two orders of one client. */
  readonly orderEveryMs: number;
  /** Time between two dashboard calls (one extra client), which reach recommendations. */
  readonly dashboardEveryMs: number;
  /**
   * A client over its per-user budget: `GET /api/me` every `everyMs` with its own token, so the
   * gateway's rate limiter has to refuse some of it (429).
   */
  readonly greedy: { readonly token: string; readonly everyMs: number };
  /** Resolves when the traffic should stop. */
  readonly until: Promise<void>;
  /**
   * Client-side limit per request and route: the route's timeout plus a margin, so hitting it means
   * the gateway let a request hang past the time it promised.
   */
  readonly hangAfterMs: Readonly<Record<TrafficRoute, number>>;
}

const products = ["p-espresso", "p-mug", "p-kettle"];

async function timed(
  route: TrafficRoute,
  hangAfterMs: number,
  request: (signal: AbortSignal) => Promise<Response>,
): Promise<Outcome> {
  const started = performance.now();
  try {
    const signal = AbortSignal.timeout(hangAfterMs);
    const response = await request(signal);
    const text = await response.text();
    const latencyMs = performance.now() - started;
    const contentType = response.headers.get("content-type") ?? "";
    if (route === "place-order" && response.status === 201) {
      return { route, status: 201, contentType, latencyMs, orderId: JSON.parse(text).orderId };
    }
    return { route, status: response.status, contentType, latencyMs };
  } catch (error) {
    return {
      route,
      status: 0,
      contentType: "",
      latencyMs: performance.now() - started,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  }
}

/**
 * Steady traffic through the gateway: each token's client places an order (one item, a random
 * product, its own `Idempotency-Key`) every `orderEveryMs`, one more client reads the dashboard and
 * a greedy one its profile, until `until` resolves; resolves with every outcome once the requests
 * in flight are answered.
 */
export async function runTraffic(options: TrafficOptions): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let stopped = false;
  void options.until.then(() => {
    stopped = true;
  });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const loop = async (everyMs: number, offsetMs: number, call: () => Promise<Outcome>): Promise<void> => {
    await pause(offsetMs);
    while (!stopped) {
      const next = performance.now() + everyMs;
      outcomes.push(await call());
      await pause(Math.max(0, next - performance.now()));
    }
  };

  const get = (route: TrafficRoute, path: string, token: string) => () =>
    timed(route, options.hangAfterMs[route], (signal) =>
      fetch(`${options.gatewayUrl}${path}`, { signal, headers: { authorization: `Bearer ${token}` } }),
    );
  const orderClient = (token: string) => () =>
    timed("place-order", options.hangAfterMs["place-order"], (signal) =>
      fetch(`${options.gatewayUrl}/api/orders`, {
        method: "POST",
        signal,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "idempotency-key": randomUUID(),
        },
        body: JSON.stringify({
          items: [{ productId: products[Math.floor(Math.random() * products.length)], quantity: 1 }],
        }),
      }),
    );

  const spread = options.orderEveryMs / options.tokens.length;
  await Promise.all([
    ...options.tokens.map((token, i) => loop(options.orderEveryMs, i * spread, orderClient(token))),
    loop(options.dashboardEveryMs, 0, get("dashboard", "/api/dashboard", options.tokens[0]!)),
    loop(options.greedy.everyMs, 0, get("me", "/api/me", options.greedy.token)),
  ]);
  return outcomes;
}

/** The `q` quantile (0–1) of `values` (nearest rank); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
