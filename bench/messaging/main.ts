// `npm run bench -- messaging [--quick]`: Flotilla's reliable messaging, end to end, on the
// machine's PostgreSQL, RabbitMQ and NATS JetStream (one run, one PostgreSQL database of its own,
// `flotilla_bench_messaging`, dropped and created at the start):
// (1) PostgreSQL transport vs pg-boss doing the same publish/consume work (pg-queue.ts): msgs/s
//     from the first publish to the last message handled, contenders interleaved.
// (2) Throughput per transport of outbox → relay → transport → consumer with inbox: 16 producer
//     loops commit an order row plus its outbox row per transaction (e2e-producer.ts, the relay in
//     the same process), the transport carries the events, a consumer process applies each exactly
//     once (a ledger row in an inbox transaction, e2e-consumer.ts), and the ledger is checked.
//     "From the outbox": rows committed first, msgs/s from the relay's start to the last message
//     handled. "Live": producers commit meanwhile, msgs/s from the first commit to the last handled.
// (3) The same pipeline at a steady 1,000 msgs/s: end-to-end latency p50/p99 (handled minus the
//     envelope's time, set inside the producer's transaction).
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { runWorkerAsync } from "../lib/child-process.ts";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { publishResults } from "../lib/report.ts";
import { round, type Summary, summarise } from "../lib/stats.ts";
import { type TransportKind, transportKinds } from "./transports.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const settings = quick
  ? { queueSamples: 1, queueCount: 5_000, e2eSamples: 1, e2eCount: 4_000, steadySeconds: 3 }
  : { queueSamples: 3, queueCount: 20_000, e2eSamples: 3, e2eCount: 20_000, steadySeconds: 10 };
const database = "flotilla_bench_messaging";
const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const databaseUrl = `postgres://postgres@127.0.0.1:5432/${database}`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${database}`);
await admin.end();

const namespace = () => `b${randomBytes(4).toString("hex")}`;

// (1) PostgreSQL queue: Flotilla's transport vs pg-boss.
const queueRuns = { flotilla: [] as number[], "pg-boss": [] as number[] };
for (let sample = 1; sample <= settings.queueSamples; sample++) {
  for (const contender of ["flotilla", "pg-boss"] as const) {
    const result = await runWorkerAsync<{ msgsPerSecond: number }>(join(here, "pg-queue.ts"), [
      JSON.stringify({
        contender,
        databaseUrl,
        schema: namespace(),
        count: settings.queueCount,
        batch: 100,
        publishers: 2,
        prefetch: 64,
      }),
    ]);
    queueRuns[contender].push(result.msgsPerSecond);
  }
  process.stderr.write(`pg queue sample ${sample}/${settings.queueSamples} done\n`);
}

interface E2eSample {
  readonly msgsPerSecond: number;
  /** Producer transactions committed per second (the offered load). */
  readonly producedPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly exactlyOnce: boolean;
}

async function endToEnd(
  kind: TransportKind,
  count: number,
  options: { rate: number; backlog: boolean; warmupMs: number },
): Promise<E2eSample> {
  const ns = namespace();
  const consumerRun = runWorkerAsync<{
    firstAt: number;
    lastAt: number;
    handled: number;
    ledgerRows: number;
    ledgerOrders: number;
    p50: number;
    p99: number;
  }>(join(here, "e2e-consumer.ts"), [
    JSON.stringify({
      kind,
      namespace: ns,
      databaseUrl,
      count,
      prefetch: 256,
      timeoutMs: 180_000,
      warmupMs: options.warmupMs,
    }),
  ]);
  const producer = await runWorkerAsync<{ startedAt: number; producedAt: number; drainedAt: number }>(
    join(here, "e2e-producer.ts"),
    [
      JSON.stringify({
        kind,
        namespace: ns,
        databaseUrl,
        count,
        rate: options.rate,
        concurrency: 16,
        backlog: options.backlog,
      }),
    ],
  );
  const consumed = await consumerRun;
  return {
    msgsPerSecond: count / ((consumed.lastAt - producer.startedAt) / 1000),
    producedPerSecond: count / ((producer.producedAt - producer.startedAt) / 1000),
    p50: consumed.p50,
    p99: consumed.p99,
    exactlyOnce: consumed.ledgerRows === count && consumed.ledgerOrders === count,
  };
}

// (2) Throughput, transports interleaved: from a committed backlog (the pipeline alone), and live
// (producers committing at the same time on the same 2 cores).
const e2e = new Map<TransportKind, E2eSample[]>(transportKinds.map((k) => [k, []]));
const live = new Map<TransportKind, E2eSample[]>(transportKinds.map((k) => [k, []]));
for (let sample = 1; sample <= settings.e2eSamples; sample++) {
  for (const kind of transportKinds) {
    e2e.get(kind)!.push(await endToEnd(kind, settings.e2eCount, { rate: 0, backlog: true, warmupMs: 0 }));
    live.get(kind)!.push(await endToEnd(kind, settings.e2eCount, { rate: 0, backlog: false, warmupMs: 0 }));
  }
  process.stderr.write(`end-to-end sample ${sample}/${settings.e2eSamples} done\n`);
}

// (3) Steady 1,000 msgs/s; the first 2 s warm up (JIT, pools, connections) and are not counted.
const warmupSeconds = 2;
const steady = new Map<TransportKind, E2eSample>();
for (const kind of transportKinds) {
  steady.set(
    kind,
    await endToEnd(kind, (settings.steadySeconds + warmupSeconds) * 1000, {
      rate: 1000,
      backlog: false,
      warmupMs: warmupSeconds * 1000,
    }),
  );
}

const fmt = (s: Summary) => `${round(s.median)} (${round(s.min)}–${round(s.max)})`;
const queue = { flotilla: summarise(queueRuns.flotilla), pgBoss: summarise(queueRuns["pg-boss"]) };
const throughput = (kind: TransportKind) => summarise(e2e.get(kind)!.map((s) => s.msgsPerSecond));
const exactly = (samples: readonly E2eSample[]) => (samples.every((s) => s.exactlyOnce) ? "yes" : "NO");

const report = [
  "# Messaging benchmark",
  "",
  `Run: \`npm run bench -- messaging${quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)}; ${machineLine()}.`,
  "PostgreSQL, RabbitMQ and NATS JetStream: the machine's own servers, all on this host (they share its 2 cores with the benchmark's processes).",
  "",
  `## PostgreSQL transport vs pg-boss (same publish/consume work; ${settings.queueCount} messages, batches of 100 from 2 publishers, prefetch 64; median (min–max) of ${settings.queueSamples})`,
  "",
  markdownTable(
    ["contender", "msgs/s"],
    [
      ["Flotilla PostgreSQL transport", fmt(queue.flotilla)],
      ["pg-boss", fmt(queue.pgBoss)],
    ],
  ),
  "",
  `Flotilla ÷ pg-boss: **${round(queue.flotilla.median / queue.pgBoss.median)}×** (target ≥ 2×).`,
  "",
  `## Outbox → relay → transport → consumer with inbox (${settings.e2eCount} messages, prefetch 256; median (min–max) of ${settings.e2eSamples})`,
  "",
  "*From the outbox*: the rows are committed first (16 producer loops, one order row + one outbox row per transaction), then the relay starts; msgs/s from the relay's start to the last message handled — the pipeline alone, which is what the target measures. *Live*: the same producers commit while the pipeline runs, all on the same 2 cores as PostgreSQL and the broker; msgs/s from the first producer transaction to the last message handled (bounded by the producers' commit rate, shown beside it). Latencies here are under saturation (queueing), see the steady run for latency.",
  "",
  markdownTable(
    ["transport", "from the outbox msgs/s", "live msgs/s", "live producer commits/s", "exactly-once effects"],
    transportKinds.map((kind) => [
      kind,
      fmt(throughput(kind)),
      fmt(summarise(live.get(kind)!.map((s) => s.msgsPerSecond))),
      String(round(summarise(live.get(kind)!.map((s) => s.producedPerSecond)).median)),
      exactly([...e2e.get(kind)!, ...live.get(kind)!]),
    ]),
  ),
  "",
  `## Steady 1,000 msgs/s for ${settings.steadySeconds} s after ${warmupSeconds} s of warm-up (end-to-end latency: handled minus the envelope's time, set in the producer's transaction)`,
  "",
  markdownTable(
    ["transport", "p50 ms", "p99 ms", "exactly-once effects"],
    transportKinds.map((kind) => {
      const s = steady.get(kind)!;
      return [kind, String(s.p50), String(s.p99), exactly([s])];
    }),
  ),
  "",
  "Targets (issue 7): ≥ 5,000 msgs/s end to end through RabbitMQ with exactly-once effects; p99 ≤ 50 ms at 1,000 msgs/s; PostgreSQL transport ≥ 2× pg-boss.",
].join("\n");

publishResults(
  here,
  report,
  {
    bench: "messaging",
    unit: "msgs/s",
    ours: {
      outbox_rabbitmq_msgs_per_s: round(throughput("rabbitmq").median),
      outbox_nats_msgs_per_s: round(throughput("nats").median),
      outbox_postgres_msgs_per_s: round(throughput("postgres").median),
      pg_transport_msgs_per_s: round(queue.flotilla.median),
      outbox_rabbitmq_live_msgs_per_s: round(
        summarise(live.get("rabbitmq")!.map((x) => x.msgsPerSecond)).median,
      ),
      outbox_nats_live_msgs_per_s: round(summarise(live.get("nats")!.map((x) => x.msgsPerSecond)).median),
      outbox_postgres_live_msgs_per_s: round(
        summarise(live.get("postgres")!.map((x) => x.msgsPerSecond)).median,
      ),
      p99_ms_at_1000: steady.get("rabbitmq")!.p99,
      p99_ms_at_1000_nats: steady.get("nats")!.p99,
      p99_ms_at_1000_postgres: steady.get("postgres")!.p99,
    },
    peers: { "pg-boss": { pg_queue_msgs_per_s: round(queue.pgBoss.median) } },
    ratios: { pg_transport_vs_pgboss: round(queue.flotilla.median / queue.pgBoss.median) },
    outbox_rabbitmq_msgs_per_s: round(throughput("rabbitmq").median),
    outbox_nats_msgs_per_s: round(throughput("nats").median),
    pg_transport_vs_pgboss: round(queue.flotilla.median / queue.pgBoss.median),
    p99_ms_at_1000: steady.get("rabbitmq")!.p99,
  },
  { quick },
);
