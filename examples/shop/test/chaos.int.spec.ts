import { readdirSync, readFileSync } from "node:fs";
import { parseDuration } from "@flotilla/resilience";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { type ChaosShop, startChaosShop } from "./chaos-shop.ts";
import { type Outcome, quantile, runTraffic, type TrafficRoute } from "./chaos-traffic.ts";
import { eventually } from "./eventually.ts";

// Steady order traffic through the gateway while payments and inventory instances are SIGKILLed and
// restarted, recommendations answers 2 s late, and the message broker (the machine's RabbitMQ, which
// every service reaches through a TCP proxy) is away for 15 s; then every invariant of the shop is
// checked against its databases.

const trafficMs = 45_000;
const brokerOutageMs = 15_000;
/** How much later than its route's timeout an answer may come before it counts as a hang. */
const hangMarginMs = 3_000;
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

/** Logs in alice, bob and `extra` new users (created by alice), in that order: one token per client. */
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

/**
 * The time the gateway promises to answer a route of examples/shop/gateway.yaml in: a composite
 * route's deadline, else the route's timeout (the gateway's default: 15 s).
 */
function routeTimeoutMs(id: TrafficRoute): number {
  const config = parse(readFileSync(new URL("../gateway.yaml", import.meta.url), "utf8"));
  const route = config.routes.find((r: { id: string }) => r.id === id);
  if (route === undefined) throw new Error(`gateway.yaml has no route ${id}`);
  return parseDuration(route.composite?.deadline ?? route.timeout ?? "15s");
}

/** What the chaos did, and how many broker connections the outage cut. */
interface ChaosReport {
  readonly events: string[];
  readonly brokerConnectionsCut: number;
  readonly brokerAwayMs: number;
}

/**
 * The chaos, on a schedule relative to the start of the traffic. Each event keeps its own time (a
 * slow restart does not push the others back); the broker is away for `brokerOutageMs` from the
 * moment it stopped.
 */
async function chaos(running: ChaosShop, started: number): Promise<ChaosReport> {
  const events: { at: number; text: string }[] = [];
  const at = async (ms: number, what: string, act: () => Promise<void> | void): Promise<number> => {
    const wait = started + ms - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const begun = performance.now();
    await act();
    events.push({
      at: begun - started,
      text: `${((begun - started) / 1000).toFixed(1)} s ${what} (${Math.round(performance.now() - begun)} ms)`,
    });
    return begun;
  };
  let brokerConnectionsCut = 0;
  let brokerAwayMs = 0;
  const outage = async (): Promise<void> => {
    const stopped = await at(15_000, "broker stopped", () => {
      brokerConnectionsCut = running.busProxy.connections;
      return running.busProxy.stop();
    });
    const restarted = await at(stopped - started + brokerOutageMs, "broker started", () =>
      running.busProxy.start(),
    );
    brokerAwayMs = restarted - stopped;
  };
  await Promise.all([
    at(4_000, "SIGKILL payments-1, restarted", () => running.killAndRestart("payments", 1)),
    at(9_000, "SIGKILL inventory-1, restarted", () => running.killAndRestart("inventory", 1)),
    at(12_000, "recommendations latency 2 s", () => {
      running.recommendationsFaults.latencyMs = 2_000;
    }),
    outage(),
    at(33_000, "SIGKILL payments-2, restarted", () => running.killAndRestart("payments", 2)),
    at(38_000, "SIGKILL inventory-2, restarted", () => running.killAndRestart("inventory", 2)),
  ]);
  await at(trafficMs, "traffic stopped", () => {});
  return {
    events: events.sort((a, b) => a.at - b.at).map((event) => event.text),
    brokerConnectionsCut,
    brokerAwayMs,
  };
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
    const allTokens = await tokens(running.gatewayUrl, 7);
    const greedyToken = allTokens.pop()!;
    const hangAfterMs = {
      "place-order": routeTimeoutMs("place-order") + hangMarginMs,
      dashboard: routeTimeoutMs("dashboard") + hangMarginMs,
      me: routeTimeoutMs("me") + hangMarginMs,
    };
    const started = performance.now();
    const schedule = chaos(running, started);
    const outcomes = await runTraffic({
      gatewayUrl: running.gatewayUrl,
      tokens: allTokens,
      orderEveryMs: 1_500,
      dashboardEveryMs: 500,
      greedy: { token: greedyToken, everyMs: 200 },
      until: schedule.then(
        () => undefined,
        () => undefined,
      ),
      hangAfterMs,
    });
    const report = await schedule;
    for (const event of report.events) log(event);
    log(
      `the broker was away ${(report.brokerAwayMs / 1000).toFixed(1)} s, cutting ${report.brokerConnectionsCut} connections`,
    );
    // The outage hit the services' broker connections (they all go through the proxy) for the whole 15 s.
    expect(report.brokerConnectionsCut).toBeGreaterThanOrEqual(2);
    expect(report.brokerAwayMs).toBeGreaterThanOrEqual(brokerOutageMs - 50); // a timer may fire a little early

    // The gateway answered every request cleanly (a success, a 429 or a 503 problem) and in time:
    // a request still unanswered at its route's timeout plus the margin failed as a hang (status 0).
    const unclean = outcomes.filter((outcome) => !isClean(outcome));
    expect(unclean, JSON.stringify(unclean.slice(0, 10))).toEqual([]);
    // The refusal path is exercised: the greedy client went over its budget and got clean 429s.
    expect(
      outcomes.filter((outcome) => outcome.route === "me" && outcome.status === 429).length,
    ).toBeGreaterThan(0);
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
    const reasons = await orders.query<{ reason: string; n: number }>(
      `SELECT cancel_reason AS reason, count(*)::int AS n FROM orders WHERE status = 'cancelled' GROUP BY 1`,
    );
    for (const { reason, n } of reasons.rows) log(`cancelled ×${n}: ${reason}`);

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
