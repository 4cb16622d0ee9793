// `npm run bench -- saga [--quick]`: durable three-step order sagas (payment → inventory →
// shipping) on the machine's PostgreSQL, in a database of its own (`flotilla_bench_saga`, dropped
// and created at the start), next to the physical floor measured in the same run: single-row
// INSERT transactions per second on the same number of connections. Samples alternate floor and
// saga (A B A B …), each in a fresh process (worker.ts); the report gives the median (min–max).
//
// Sagas: N concurrent starters each run one saga after the other (startSaga, then wait until it
// is settled); the orchestrator and the in-process participants (one keyed ledger INSERT … ON CONFLICT per call, in tables of their own
// schemas, order-saga.ts) share one pool of N connections. sagas/s counts completed sagas over the
// measured window (after a warm-up); the duration of a saga is from the startSaga call to its end.
// commits_per_saga: pg_stat_database.xact_commit of the database over the window ÷ sagas — every
// commit of the window (exact: the window's pool is ended and its backends have exited, flushing
// their statistics), including the orchestrator's start, close and background work (a claim poll
// every second, lease heartbeats, scans); that background is also measured alone, on an idle
// orchestrator, and shown beside it as commits per saga at the run's rate.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { runWorkerAsync } from "../lib/child-process.ts";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { publishResults } from "../lib/report.ts";
import { round, type Summary, summarise } from "../lib/stats.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const settings = quick
  ? { samples: 1, sagas: 2_000, warmup: 300, floorSeconds: 3, idleMs: 2_000 }
  : { samples: 3, sagas: 10_000, warmup: 1_000, floorSeconds: 10, idleMs: 3_000 };
const connections = 16;
/** Commits the design needs per saga: its insert, one per step, and one per participant call. */
const designCommits = 1 + 3 + 3;
const database = "flotilla_bench_saga";
const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const databaseUrl = `postgres://postgres@127.0.0.1:5432/${database}`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${database}`);
await admin.end();

interface FloorSample {
  readonly commitsPerSecond: number;
  readonly inserts: number;
  readonly measuredCommits: number;
}
interface SagaSample {
  readonly sagas: number;
  readonly seconds: number;
  readonly sagasPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly commits: number;
  /** Statements sent (round trips to PostgreSQL) in the window. */
  readonly statements: number;
  /** Commits of an idle orchestrator (start, polls, heartbeats, scans, close) over `idleSeconds`. */
  readonly idleCommits: number;
  readonly idleSeconds: number;
  readonly effectsOnce: boolean;
}

const common = { databaseUrl, adminUrl, database, connections };
const floors: FloorSample[] = [];
const runs: SagaSample[] = [];
for (let sample = 1; sample <= settings.samples; sample++) {
  floors.push(
    await runWorkerAsync<FloorSample>(join(here, "worker.ts"), [
      JSON.stringify({ ...common, kind: "floor", seconds: settings.floorSeconds }),
    ]),
  );
  runs.push(
    await runWorkerAsync<SagaSample>(join(here, "worker.ts"), [
      JSON.stringify({
        ...common,
        kind: "saga",
        sagas: settings.sagas,
        warmup: settings.warmup,
        idleMs: settings.idleMs,
      }),
    ]),
  );
  process.stderr.write(`sample ${sample}/${settings.samples} done\n`);
}

const floor = summarise(floors.map((s) => s.commitsPerSecond));
const sagasPerSecond = summarise(runs.map((s) => s.sagasPerSecond));
const p50 = summarise(runs.map((s) => s.p50Ms));
const p99 = summarise(runs.map((s) => s.p99Ms));
const commitsPerSaga = summarise(runs.map((s) => s.commits / s.sagas));
const background = summarise(runs.map((s) => ((s.idleCommits / s.idleSeconds) * s.seconds) / s.sagas));
const statementsPerSaga = summarise(runs.map((s) => s.statements / s.sagas));
const efficiency = (sagasPerSecond.median * commitsPerSaga.median) / floor.median;
const fmt = (s: Summary) => `${round(s.median)} (${round(s.min)}–${round(s.max)})`;

const report = [
  "# Saga benchmark",
  "",
  `Run: \`npm run bench -- saga${quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 10)}; ${machineLine()}.`,
  `PostgreSQL: the machine's own server on this host (it shares the cores with the benchmark), database \`${database}\`. ${connections} connections; median (min–max) of ${settings.samples} sample(s), floor and sagas alternating, each in a fresh process.`,
  "",
  markdownTable(
    ["measure", "value"],
    [
      [`commit floor: single-row INSERT transactions/s on ${connections} connections`, fmt(floor)],
      [
        `durable three-step order sagas/s (${connections} concurrent starters, ${settings.sagas} sagas after ${settings.warmup} of warm-up)`,
        fmt(sagasPerSecond),
      ],
      ["saga duration p50 ms (startSaga to settled)", fmt(p50)],
      ["saga duration p99 ms", fmt(p99)],
      [
        `commits per saga, measured (design: ${designCommits} = insert + 3 steps + 3 participant transactions)`,
        fmt(commitsPerSaga),
      ],
      [
        "of which orchestrator start, polls, heartbeats, scans and close (measured idle, per saga)",
        fmt(background),
      ],
      [
        "efficiency vs commit floor (sagas/s × commits per saga ÷ floor commits/s)",
        String(round(efficiency)),
      ],
      [
        "statements (round trips) per saga: 4 for the orchestrator, 1 per participant call (a keyed INSERT … ON CONFLICT)",
        fmt(statementsPerSaga),
      ],
      [
        "efficiency vs statement floor (sagas/s × statements per saga ÷ floor statements/s)",
        String(round((sagasPerSecond.median * statementsPerSaga.median) / floor.median)),
      ],
      ["every participant effect applied exactly once", runs.every((r) => r.effectsOnce) ? "yes" : "NO"],
    ],
  ),
  "",
  `Target (issue 8): ≥ 500 sagas/s, and ≥ 1/(commits per saga) of the commit floor (${round(floor.median / designCommits)} sagas/s at ${designCommits} commits per saga on this run's floor).`,
].join("\n");

publishResults(
  here,
  report,
  {
    bench: "saga",
    unit: "sagas/s",
    connections,
    sagas_per_s: round(sagasPerSecond.median),
    p50_ms: round(p50.median),
    p99_ms: round(p99.median),
    commits_per_saga: round(commitsPerSaga.median),
    statements_per_saga: round(statementsPerSaga.median),
    floor_commits_per_s: round(floor.median),
    efficiency_vs_commit_floor: round(efficiency),
  },
  { quick },
);
