// `npm run bench -- messaging-outage [--quick]`: issue 7's broker-outage check on the machine's
// real RabbitMQ. Producers commit an order row plus its outbox row at a steady 200 msgs/s; the
// outbox relay publishes to RabbitMQ; a consumer applies each event exactly once (a ledger row in
// its inbox transaction). After 10 s the RabbitMQ application is stopped (`rabbitmqctl stop_app`:
// every connection dropped, new ones refused) for 20 s (5 s with --quick), then started again.
// Production goes on throughout. Printed once a second: produced, published, handled, and the
// relay's `flotilla_outbox_depth` and `flotilla_outbox_oldest_unsent_age_seconds` gauges as
// Prometheus would scrape them. Passes when every committed message is handled exactly once.
// Needs root (rabbitmqctl); RabbitMQ is started again on every way out, Ctrl-C included.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { consumer, on, outbox, outboxRelay, rabbitmqTransport } from "@flotilla/messaging";
import pg from "pg";
import { Registry } from "prom-client";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { publishResults } from "../lib/report.ts";
import { orderPlaced } from "../messaging/bench-event.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const settings = quick
  ? { rate: 200, beforeS: 5, outageS: 5, afterS: 5 }
  : { rate: 200, beforeS: 10, outageS: 20, afterS: 15 };
const database = "flotilla_bench_outage";
const databaseUrl = `postgres://postgres@127.0.0.1:5432/${database}`;
const amqpUrl = "amqp://guest:guest@127.0.0.1:5672";

// Asynchronous, so that the relay, the consumer and the sampler in this process keep running meanwhile.
const rabbitmqctl = (...args: string[]) => promisify(execFile)("rabbitmqctl", args);
let brokerStopped = false;
async function startBroker(): Promise<void> {
  if (!brokerStopped) return;
  await rabbitmqctl("start_app");
  brokerStopped = false;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (brokerStopped) execFileSync("rabbitmqctl", ["start_app"], { stdio: "ignore" });
    process.exit(130);
  });
}

const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${database}`);
await admin.end();

const ns = `o${randomBytes(4).toString("hex")}`;
const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
await pool.query("CREATE SCHEMA orders; CREATE SCHEMA billing");
await pool.query("CREATE TABLE orders.orders (id text PRIMARY KEY, total numeric NOT NULL)");
await pool.query("CREATE TABLE billing.ledger (order_id text NOT NULL, amount numeric NOT NULL)");
const box = outbox({ source: "/services/orders", schema: "orders" });
await box.install(pool);
const registry = new Registry();
const relayTransport = await rabbitmqTransport({ url: amqpUrl, exchange: ns });
const consumerTransport = await rabbitmqTransport({ url: amqpUrl, exchange: ns });
const relay = outboxRelay({ pool, outbox: box, transport: relayTransport, registry, pollInterval: "500ms" });
let handled = 0;
const billing = consumer({
  name: `${ns}.billing`,
  transport: consumerTransport,
  db: pool,
  prefetch: 64,
  handlers: [
    on(orderPlaced, async (event, context) => {
      await context.tx!.query("INSERT INTO billing.ledger (order_id, amount) VALUES ($1, $2)", [
        event.data.orderId,
        event.data.total,
      ]);
      handled++;
    }),
  ],
});
await billing.start();
relay.start();

let produced = 0;
let producerErrors = 0;
const totalS = settings.beforeS + settings.outageS + settings.afterS;
const startedAt = Date.now();
async function produce(): Promise<void> {
  const count = totalS * settings.rate;
  for (let i = produced; i < count; i = produced) {
    produced++;
    const due = startedAt + (i * 1000) / settings.rate;
    if (due > Date.now()) await delay(due - Date.now());
    const orderId = `o-${i}`;
    try {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await client.query("INSERT INTO orders.orders (id, total) VALUES ($1, $2)", [orderId, i % 100]);
        await box.publish(
          client,
          orderPlaced,
          { orderId, customerId: "c", total: i % 100, lines: 1 },
          { key: orderId },
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      } finally {
        client.release();
      }
    } catch {
      producerErrors++;
    }
  }
}

const gauge = async (name: string) =>
  (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? Number.NaN;
const timeline: (string | number)[][] = [];
let phase = "broker up";
const sampler = setInterval(() => {
  void Promise.all([gauge("flotilla_outbox_depth"), gauge("flotilla_outbox_oldest_unsent_age_seconds")]).then(
    ([depth, age]) => {
      const row = [
        Math.round((Date.now() - startedAt) / 1000),
        phase,
        produced,
        relay.status().published,
        handled,
        depth,
        age,
      ];
      timeline.push(row);
      process.stderr.write(`${row.join("\t")}\n`);
    },
  );
}, 1000);

const production = produce();
let outcome: { allHandled: boolean; ledgerRows: number; ledgerOrders: number; committed: number };
try {
  await delay(settings.beforeS * 1000);
  brokerStopped = true;
  await rabbitmqctl("stop_app");
  phase = "BROKER STOPPED";
  await delay(settings.outageS * 1000);
  await startBroker();
  phase = "broker up";
  await production;
  phase = "draining";
  const { rows: committedRows } = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM orders.orders",
  );
  const committed = committedRows[0]!.n;
  const deadline = Date.now() + 120_000;
  while (handled < committed && Date.now() < deadline) await delay(200);
  await delay(1500);
  const { rows } = await pool.query<{ rows: number; orders: number }>(
    "SELECT count(*)::int AS rows, count(DISTINCT order_id)::int AS orders FROM billing.ledger",
  );
  outcome = {
    allHandled: handled >= committed,
    ledgerRows: rows[0]!.rows,
    ledgerOrders: rows[0]!.orders,
    committed,
  };
} finally {
  await startBroker();
  clearInterval(sampler);
}
await billing.close();
await relay.stop();
await relayTransport.close();
await consumerTransport.close();
await pool.end();

const lost = outcome.committed - outcome.ledgerOrders;
const duplicated = outcome.ledgerRows - outcome.ledgerOrders;
const peakAge = Math.max(...timeline.map((r) => Number(r[6])).filter(Number.isFinite));
const finalAge = Number(timeline.at(-1)?.[6]);
const report = [
  "# Messaging: RabbitMQ outage during steady publishing",
  "",
  `Run: \`npm run bench -- messaging-outage${quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)}; ${machineLine()}.`,
  `${settings.rate} msgs/s for ${totalS} s through outbox → relay → RabbitMQ → consumer with inbox; RabbitMQ stopped (\`rabbitmqctl stop_app\`) from ${settings.beforeS} s to ${settings.beforeS + settings.outageS} s.`,
  "",
  markdownTable(
    [
      "committed",
      "handled (distinct)",
      "ledger rows",
      "lost",
      "applied twice",
      "producer errors",
      "peak oldest-unsent age s",
      "age at end s",
    ],
    [
      [
        outcome.committed,
        outcome.ledgerOrders,
        outcome.ledgerRows,
        lost,
        duplicated,
        producerErrors,
        peakAge,
        finalAge,
      ],
    ],
  ),
  "",
  "Timeline (one row a second; depth and age are the relay's gauges as scraped):",
  "",
  markdownTable(
    ["t s", "phase", "produced", "published", "handled", "outbox depth", "oldest unsent age s"],
    timeline,
  ),
].join("\n");
publishResults(
  here,
  report,
  {
    bench: "messaging-outage",
    unit: "messages",
    ours: {
      committed: outcome.committed,
      lost,
      applied_twice: duplicated,
      peak_oldest_unsent_age_s: peakAge,
    },
    peers: {},
    ratios: {},
  },
  { quick },
);
if (lost !== 0 || duplicated !== 0 || !outcome.allHandled) process.exitCode = 1;
