// One end-to-end consumer process: subscribes its queue, marks itself ready, and applies each
// placed order exactly once (a ledger row, written in the inbox transaction). Prints, as its last
// stdout line, when the first and last message were handled, end-to-end latencies (handled minus
// the envelope's time, which the producer set inside its transaction), and the ledger's row counts.
import { consumer, on } from "@flotilla/messaging";
import pg from "pg";
import { orderPlaced } from "./bench-event.ts";
import { benchTransport, type TransportKind } from "./transports.ts";

interface ConsumerArgs {
  readonly kind: TransportKind;
  readonly namespace: string;
  readonly databaseUrl: string;
  readonly count: number;
  readonly prefetch: number;
  readonly timeoutMs: number;
  /** Messages sent within this long of the first are not counted in the latencies (JIT, pools, connections warming up). */
  readonly warmupMs: number;
}

const args = JSON.parse(process.argv[2]!) as ConsumerArgs;
const schema = `${args.namespace}_billing`;
const pool = new pg.Pool({ connectionString: args.databaseUrl, max: 8 });
await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
await pool.query(
  `CREATE TABLE IF NOT EXISTS ${schema}.ledger (order_id text NOT NULL, amount numeric NOT NULL)`,
);
const transport = await benchTransport(args.kind, args.namespace, args.databaseUrl);

const latencies: number[] = [];
let firstAt = 0;
let firstSentAt = 0;
let lastAt = 0;
let handled = 0;
let finish: () => void = () => undefined;
const done = new Promise<void>((resolve) => {
  finish = resolve;
});
const billing = consumer({
  name: `${args.namespace}.billing`,
  transport,
  db: pool,
  prefetch: args.prefetch,
  handlers: [
    on(orderPlaced, async (event, context) => {
      await context.tx!.query(`INSERT INTO ${schema}.ledger (order_id, amount) VALUES ($1, $2)`, [
        event.data.orderId,
        event.data.total,
      ]);
      const now = Date.now();
      if (firstAt === 0) firstAt = now;
      lastAt = now;
      const sentAt = Date.parse(event.time);
      firstSentAt ||= sentAt;
      if (sentAt - firstSentAt >= args.warmupMs) latencies.push(now - sentAt);
      if (++handled >= args.count) finish();
    }),
  ],
});
await billing.start();
await pool.query(`CREATE SCHEMA IF NOT EXISTS ${args.namespace}_ctl`);
await pool.query(`CREATE TABLE IF NOT EXISTS ${args.namespace}_ctl.ready (at timestamptz DEFAULT now())`);

const timer = setTimeout(() => {
  console.error(`consumer: only ${handled} of ${args.count} messages handled within ${args.timeoutMs} ms`);
  process.exit(1);
}, args.timeoutMs);
await done;
clearTimeout(timer);
await billing.close();
const { rows } = await pool.query<{ rows: number; orders: number }>(
  `SELECT count(*)::int AS rows, count(DISTINCT order_id)::int AS orders FROM ${schema}.ledger`,
);
await transport.close();
await pool.end();
latencies.sort((a, b) => a - b);
const pick = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
console.log(
  JSON.stringify({
    firstAt,
    lastAt,
    handled,
    ledgerRows: rows[0]!.rows,
    ledgerOrders: rows[0]!.orders,
    p50: pick(0.5),
    p99: pick(0.99),
  }),
);
