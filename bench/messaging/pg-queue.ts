// One PostgreSQL-queue sample, in a process of its own: publish `count` messages in batches of
// `batch` from `publishers` concurrent loops while one subscription consumes them with `prefetch`
// in flight, each message acknowledged; time from the first publish to the last message handled.
// `flotilla`: the PostgreSQL transport (its own schema). `pg-boss`: pg-boss on its own schema, a
// notify-enabled queue, `insert()` batches of the same size, `work()` with batchSize = prefetch
// and burst fetching while batches come back full. Same ~300-byte CloudEvents JSON per message.
import { createEnvelope, encodeEnvelope, postgresTransport } from "@flotilla/messaging";
import pg from "pg";
import { PgBoss } from "pg-boss";

interface QueueArgs {
  readonly contender: "flotilla" | "pg-boss";
  readonly databaseUrl: string;
  readonly schema: string;
  readonly count: number;
  readonly batch: number;
  readonly publishers: number;
  readonly prefetch: number;
}

const args = JSON.parse(process.argv[2]!) as QueueArgs;
const envelopeOf = (i: number) =>
  createEnvelope({
    type: "shop.order-placed",
    source: "/services/orders",
    data: { orderId: `o-${i}`, customerId: `c-${i % 50}`, total: (i % 97) + 0.5, lines: 1 + (i % 5) },
  });

let handled = 0;
let finish: () => void = () => undefined;
const done = new Promise<void>((resolve) => {
  finish = resolve;
});
const count = (n: number) => {
  handled += n;
  if (handled >= args.count) finish();
};

async function publishAll(publish: (from: number, to: number) => Promise<void>): Promise<void> {
  let next = 0;
  const loop = async () => {
    for (;;) {
      const from = next;
      if (from >= args.count) return;
      next = Math.min(args.count, from + args.batch);
      await publish(from, next);
    }
  };
  await Promise.all(Array.from({ length: args.publishers }, loop));
}

const admin = new pg.Client({ connectionString: args.databaseUrl });
await admin.connect();
await admin.query(`DROP SCHEMA IF EXISTS ${args.schema} CASCADE`);
let startedAt = 0;
let publishedAt = 0;
if (args.contender === "flotilla") {
  const transport = await postgresTransport({ url: args.databaseUrl, schema: args.schema });
  const subscription = await transport.subscribe({
    queue: "bench.orders",
    topics: ["shop.#"],
    prefetch: args.prefetch,
    handler: async (delivery) => {
      await delivery.ack();
      count(1);
    },
  });
  startedAt = performance.now();
  await publishAll((from, to) => {
    const messages = [];
    for (let i = from; i < to; i++) {
      const envelope = envelopeOf(i);
      messages.push({ id: envelope.id, topic: "shop.order-placed", body: encodeEnvelope(envelope) });
    }
    return transport.publish(messages);
  });
  publishedAt = performance.now();
  await done;
  const finishedAt = performance.now();
  await subscription.close();
  await transport.close();
  report(finishedAt);
} else {
  const boss = new PgBoss({ connectionString: args.databaseUrl, schema: args.schema, useListenNotify: true });
  boss.on("error", (error) => console.error(`pg-boss: ${error.message}`));
  await boss.start();
  await boss.createQueue("bench-orders", { notify: true });
  await boss.work(
    "bench-orders",
    { batchSize: args.prefetch, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true },
    async (jobs) => {
      count(jobs.length);
    },
  );
  startedAt = performance.now();
  await publishAll(async (from, to) => {
    const jobs = [];
    for (let i = from; i < to; i++) jobs.push({ data: envelopeOf(i) });
    await boss.insert("bench-orders", jobs);
  });
  publishedAt = performance.now();
  await done;
  const finishedAt = performance.now();
  await boss.stop({ graceful: true });
  report(finishedAt);
}
await admin.query(`DROP SCHEMA IF EXISTS ${args.schema} CASCADE`);
await admin.end();

function report(finishedAt: number): void {
  const seconds = (finishedAt - startedAt) / 1000;
  console.log(
    JSON.stringify({
      msgsPerSecond: args.count / seconds,
      publishPerSecond: args.count / ((publishedAt - startedAt) / 1000),
      seconds,
    }),
  );
}
