// One end-to-end producer process: `concurrency` loops, each committing one order row plus its
// outbox row per transaction (the service's own database), at `rate` messages/s in all (0: as
// fast as they go), while this process's relay publishes the outbox to the transport. Prints
// {startedAt, producedAt, drainedAt} (epoch ms) as its last stdout line once every row is sent.
import { setTimeout as delay } from "node:timers/promises";
import { outbox, outboxRelay } from "@flotilla/messaging";
import pg from "pg";
import { orderPlaced } from "./bench-event.ts";
import { benchTransport, type TransportKind } from "./transports.ts";

interface ProducerArgs {
  readonly kind: TransportKind;
  readonly namespace: string;
  readonly databaseUrl: string;
  readonly count: number;
  readonly rate: number;
  readonly concurrency: number;
  /** Commit every row first, then start the relay: the pipeline from the outbox on, alone. */
  readonly backlog: boolean;
}

const args = JSON.parse(process.argv[2]!) as ProducerArgs;
const schema = `${args.namespace}_orders`;
const pool = new pg.Pool({ connectionString: args.databaseUrl, max: args.concurrency + 4 });
await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
await pool.query(
  `CREATE TABLE IF NOT EXISTS ${schema}.orders (id text PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL)`,
);
const box = outbox({ source: "/services/orders", schema });
await box.install(pool);
const transport = await benchTransport(args.kind, args.namespace, args.databaseUrl);
const relay = outboxRelay({ pool, outbox: box, transport, batchSize: 500 });

// The consumer marks itself ready (its queue bound) in this table before anything is produced.
for (;;) {
  const { rows } = await pool.query<{ ready: boolean }>(
    `SELECT to_regclass('${args.namespace}_ctl.ready') IS NOT NULL AS ready`,
  );
  if (rows[0]!.ready) break;
  await delay(50);
}
if (!args.backlog) relay.start();

let startedAt = Date.now();
let next = 0;
async function produce(): Promise<void> {
  for (;;) {
    const i = next++;
    if (i >= args.count) return;
    if (args.rate > 0) {
      const due = startedAt + (i * 1000) / args.rate;
      const wait = due - Date.now();
      if (wait > 0) await delay(wait);
    }
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const orderId = `o-${i}`;
      const total = (i % 97) + 0.5;
      await client.query(`INSERT INTO ${schema}.orders (id, customer, total) VALUES ($1, $2, $3)`, [
        orderId,
        `c-${i % 50}`,
        total,
      ]);
      await box.publish(
        client,
        orderPlaced,
        { orderId, customerId: `c-${i % 50}`, total, lines: 1 + (i % 5) },
        { key: orderId },
      );
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
await Promise.all(Array.from({ length: args.concurrency }, produce));
let producedAt = Date.now();
if (args.backlog) {
  startedAt = producedAt = Date.now();
  relay.start();
}
for (;;) {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${box.table} WHERE sent_at IS NULL`,
  );
  if (rows[0]!.n === 0) break;
  await delay(20);
}
const drainedAt = Date.now();
await relay.stop();
await transport.close();
await pool.end();
console.log(JSON.stringify({ startedAt, producedAt, drainedAt }));
