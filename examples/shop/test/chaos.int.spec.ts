import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ChaosShop, startChaosShop } from "./chaos-shop.ts";
import { type Outcome, quantile, runTraffic } from "./chaos-traffic.ts";

// Steady order traffic through the gateway while payments and inventory instances are SIGKILLed and
// restarted, recommendations answers 2 s late, and the bus (PostgreSQL transport, reached through a
// TCP proxy) is down for 15 s; then every invariant of the shop is checked against its databases.

const trafficMs = 45_000;
const routeTimeoutMs = 10_000;
const terminal = ["COMPLETED", "COMPENSATED", "ABORTED"];

let shop: ChaosShop | undefined;
const log = (message: string) => process.stdout.write(`[chaos] ${message}\n`);

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field by the assertions.
async function postJson(url: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) };
}

/** Logs in alice, bob and `extra` new users (created by alice): one token per traffic client. */
async function tokens(gatewayUrl: string, extra: number): Promise<string[]> {
  const logIn = async (email: string): Promise<string> => {
    const answer = await postJson(`${gatewayUrl}/api/auth/token`, { email });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body.accessToken as string;
  };
  const alice = await logIn("alice@example.com");
  const emails = ["bob@example.com"];
  for (let i = 0; i < extra; i++) {
    const email = `chaos-${Date.now()}-${i}@example.com`;
    const created = await postJson(`${gatewayUrl}/api/users`, { email, name: `Chaos ${i}` }, alice);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    emails.push(email);
  }
  return [alice, ...(await Promise.all(emails.map(logIn)))];
}

/** Polls `read` until `done` holds; fails after `timeoutMs` (a safety net, not a synchronisation). */
async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until)
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The chaos, on a schedule relative to the start of the traffic. */
async function chaos(running: ChaosShop, started: number): Promise<string[]> {
  const events: string[] = [];
  const at = async (ms: number, what: string, act: () => Promise<void> | void): Promise<void> => {
    const wait = started + ms - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const begun = performance.now();
    await act();
    events.push(
      `${((begun - started) / 1000).toFixed(1)} s ${what} (${Math.round(performance.now() - begun)} ms)`,
    );
  };
  await at(4_000, "SIGKILL payments-1, restarted", () => running.killAndRestart("payments", 1));
  await at(9_000, "SIGKILL inventory-1, restarted", () => running.killAndRestart("inventory", 1));
  await at(12_000, "recommendations latency 2 s", () => {
    running.recommendationsFaults.latencyMs = 2_000;
  });
  await at(15_000, "bus stopped", () => running.busProxy.stop());
  await at(30_000, "bus started", () => running.busProxy.start());
  await at(33_000, "SIGKILL payments-2, restarted", () => running.killAndRestart("payments", 2));
  await at(38_000, "SIGKILL inventory-2, restarted", () => running.killAndRestart("inventory", 2));
  await at(trafficMs, "traffic stopped", () => {});
  return events;
}

function isClean(outcome: Outcome): boolean {
  if (outcome.status >= 200 && outcome.status < 300) return true;
  return (
    (outcome.status === 429 || outcome.status === 503) &&
    outcome.contentType.startsWith("application/problem+json")
  );
}

function aliveChildren(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      if (ppid === process.pid && cmdline.includes("/services/")) found.push(`${entry}: ${cmdline}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

beforeAll(async () => {
  const started = performance.now();
  shop = await startChaosShop();
  log(`shop started in ${Math.round(performance.now() - started)} ms (logs of the children: ${shop.logDir})`);
}, 120_000);

afterAll(async () => {
  const spawned = shop?.spawned ?? [];
  await shop?.close();
  for (const child of spawned) expect(child.exitCode !== null || child.signalCode !== null).toBe(true);
  expect(aliveChildren()).toEqual([]);
}, 60_000);

describe("the shop under chaos", () => {
  test("kills, a slow dependency and a bus outage lose no order, charge once and notify once", async () => {
    const running = shop!;
    const clientTokens = await tokens(running.gatewayUrl, 6);
    const started = performance.now();
    const schedule = chaos(running, started);
    const outcomes = await runTraffic({
      gatewayUrl: running.gatewayUrl,
      tokens: clientTokens,
      orderEveryMs: 1_500,
      dashboardEveryMs: 500,
      until: schedule.then(
        () => undefined,
        () => undefined,
      ),
      hangAfterMs: routeTimeoutMs + 5_000,
    });
    const events = await schedule;
    for (const event of events) log(event);

    // The gateway answered every request cleanly and in time.
    const unclean = outcomes.filter((outcome) => !isClean(outcome));
    expect(unclean, JSON.stringify(unclean.slice(0, 10))).toEqual([]);
    const accepted = outcomes.flatMap((outcome) => (outcome.orderId === undefined ? [] : [outcome.orderId]));
    const byStatus = new Map<string, number>();
    for (const outcome of outcomes) {
      const key = `${outcome.route} ${outcome.status}`;
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    }
    log(`answers: ${JSON.stringify(Object.fromEntries(byStatus))}`);
    expect(accepted.length).toBeGreaterThan(50);

    // Every saga ends (bounded: the bus and the participants are back).
    const orders = running.db("orders");
    const sagas = await eventually(
      async () =>
        (await orders.query<{ id: string; state: string }>(`SELECT id::text, state FROM flotilla_saga.sagas`))
          .rows,
      (rows) => rows.length >= accepted.length && rows.every((row) => terminal.includes(row.state)),
      60_000,
    );
    const sagaState = new Map(sagas.map((row) => [row.id, row.state]));
    for (const id of accepted) expect(terminal, `saga of order ${id}`).toContain(sagaState.get(id));

    // No accepted order lost: each is there, confirmed or cancelled.
    const orderRows = (
      await orders.query<{ id: string; status: string; total: number }>(
        `SELECT id, status, total_cents AS total FROM orders`,
      )
    ).rows;
    const orderById = new Map(orderRows.map((row) => [row.id, row]));
    for (const id of accepted)
      expect(["confirmed", "cancelled"], `order ${id}`).toContain(orderById.get(id)?.status);
    const confirmed = orderRows.filter((row) => row.status === "confirmed");
    expect(confirmed.length).toBeGreaterThan(0);

    // No double charge: the captured charges are exactly the confirmed orders' totals, one each.
    const charges = (
      await running.db("payments").query<{ orderId: string; captured: number; amount: number }>(
        `SELECT order_id AS "orderId", count(*)::int AS captured, sum(amount_cents)::int AS amount
             FROM charges WHERE status = 'captured' GROUP BY order_id`,
      )
    ).rows;
    const ledgerTotal = charges.reduce((sum, row) => sum + row.amount, 0);
    const confirmedTotal = confirmed.reduce((sum, row) => sum + row.total, 0);
    expect(charges.filter((row) => row.captured !== 1)).toEqual([]);
    expect(ledgerTotal).toBe(confirmedTotal);
    expect(charges.map((row) => row.orderId).sort()).toEqual(confirmed.map((row) => row.id).sort());

    // Every order.confirmed consumed exactly once by notifications (waits for the relay to catch up).
    const notified = await eventually(
      async () =>
        (
          await running
            .db("notifications")
            .query<{ orderId: string; n: number }>(
              `SELECT order_id AS "orderId", count(*)::int AS n FROM notifications GROUP BY order_id`,
            )
        ).rows,
      (rows) => rows.length >= confirmed.length,
      60_000,
    );
    expect(notified.filter((row) => row.n !== 1)).toEqual([]);
    expect(notified.map((row) => row.orderId).sort()).toEqual(confirmed.map((row) => row.id).sort());

    const successes = outcomes.filter((outcome) => outcome.status >= 200 && outcome.status < 300);
    const p99 = quantile(
      successes.map((outcome) => outcome.latencyMs),
      0.99,
    );
    log(
      `${outcomes.length} requests, ${accepted.length} orders accepted (${confirmed.length} confirmed, ` +
        `${orderRows.length - confirmed.length} cancelled), ledger ${ledgerTotal} = confirmed ${confirmedTotal}; ` +
        `p99 of ${successes.length} successful requests: ${Math.round(p99)} ms`,
    );
  }, 200_000);
});
