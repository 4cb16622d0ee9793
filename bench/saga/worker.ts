// One sample of the saga benchmark in a fresh process, printing its result as a JSON line:
// `floor` — N loops of single-row INSERT transactions (autocommit) on a pool of N connections for
// a fixed time; `saga` — N concurrent starters each running durable three-step order sagas one
// after the other (startSaga, then wait until it is settled) on a pool of N connections shared by
// the orchestrator and the in-process participants.
//
// Commits are pg_stat_database.xact_commit deltas of the benchmark database around a window run
// on a pool of its own: the pool is ended and the window closes once its backends have exited
// (a backend flushes its statistics when it exits), so the count is exact; the one commit each new
// connection makes at start-up is subtracted. A saga window counts everything the process did:
// saga rows, step commits, participant transactions, and the orchestrator's start (table install),
// close (lease release) and background work (claim polls every second, lease heartbeats, scans),
// which is also measured alone while the orchestrator is idle.
import { orchestrator } from "@flotilla/saga";
import pg from "pg";
import { percentile } from "../lib/stats.ts";
import { benchOrderSaga, installParticipants } from "./order-saga.ts";

interface Args {
  readonly kind: "floor" | "saga";
  readonly databaseUrl: string;
  readonly adminUrl: string;
  readonly database: string;
  readonly connections: number;
  readonly seconds?: number;
  readonly sagas?: number;
  readonly warmup?: number;
  readonly idleMs?: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const admin = new pg.Client({ connectionString: args.adminUrl });
await admin.connect();

async function xactCommit(): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1",
    [args.database],
  );
  return Number(rows[0]?.n);
}

async function backendsGone(): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const { rows } = await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1",
      [args.database],
    );
    if (Number(rows[0]?.n) === 0) return;
    if (Date.now() > until) throw new Error(`backends of ${args.database} still connected after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `fn` on a pool of its own and returns its result with the commits and statements (round trips) it made. */
async function window<T>(
  fn: (pool: pg.Pool) => Promise<T>,
): Promise<{ result: T; commits: number; statements: number }> {
  await backendsGone();
  const before = await xactCommit();
  const pool = new pg.Pool({
    connectionString: args.databaseUrl,
    max: args.connections,
    idleTimeoutMillis: 0,
  });
  let connections = 0;
  let statements = 0;
  pool.on("connect", (client) => {
    connections++;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...queryArgs: unknown[]) => {
      statements++;
      return query(...queryArgs);
    };
  });
  const result = await fn(pool);
  await pool.end();
  await backendsGone();
  return { result, commits: (await xactCommit()) - before - connections, statements };
}

const loops = <T>(fn: () => Promise<T>) => Promise.all(Array.from({ length: args.connections }, fn));

if (args.kind === "floor") {
  const insertUntil = async (pool: pg.Pool, until: number) => {
    let n = 0;
    while (performance.now() < until) {
      await pool.query("INSERT INTO floor_rows (v) VALUES ($1)", [n]);
      n++;
    }
    return n;
  };
  await window(async (pool) => {
    await pool.query(
      "CREATE TABLE IF NOT EXISTS floor_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v integer NOT NULL)",
    );
    const warmUntil = performance.now() + 1_000;
    await loops(() => insertUntil(pool, warmUntil));
  });
  const { result, commits } = await window(async (pool) => {
    const start = performance.now();
    const counts = await loops(() => insertUntil(pool, start + (args.seconds ?? 5) * 1000));
    return { inserts: counts.reduce((a, b) => a + b, 0), seconds: (performance.now() - start) / 1000 };
  });
  console.log(
    JSON.stringify({
      commitsPerSecond: result.inserts / result.seconds,
      inserts: result.inserts,
      measuredCommits: commits,
    }),
  );
} else {
  const setUp = async (pool: pg.Pool) => {
    await installParticipants(pool);
    const saga = benchOrderSaga(pool);
    const orch = orchestrator({ db: pool, sagas: [saga], schema: "flotilla_saga", concurrency: 256 });
    await orch.start();
    return { saga, orch };
  };
  const sagas = async (pool: pg.Pool, total: number, durations?: number[]) => {
    const { saga, orch } = await setUp(pool);
    let next = 0;
    const start = performance.now();
    await loops(async () => {
      while (next < total) {
        next++;
        const startedAt = performance.now();
        const { id } = await orch.startSaga(saga, { orderId: `o-${next}`, amount: 10 });
        const row = await orch.settled(id);
        if (row?.state !== "COMPLETED") throw new Error(`saga ${id} ended ${row?.state}: ${row?.error}`);
        durations?.push(performance.now() - startedAt);
      }
    });
    const seconds = (performance.now() - start) / 1000;
    await orch.close();
    return seconds;
  };
  const ledgerRows = async () => {
    const client = new pg.Client({ connectionString: args.databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ n: string }>(
      "SELECT (SELECT count(*) FROM payments.ledger) + (SELECT count(*) FROM inventory.ledger) + (SELECT count(*) FROM shipping.ledger) AS n",
    );
    await client.end();
    return Number(rows[0]?.n);
  };
  await window((pool) => sagas(pool, args.warmup ?? 200));
  const idleMs = args.idleMs ?? 2_000;
  const idle = await window(async (pool) => {
    const { orch } = await setUp(pool);
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    await orch.close();
  });
  const ledgerBefore = await ledgerRows();
  const durations: number[] = [];
  const run = await window((pool) => sagas(pool, args.sagas ?? 2_000, durations));
  const effects = (await ledgerRows()) - ledgerBefore;
  durations.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      sagas: durations.length,
      seconds: run.result,
      sagasPerSecond: durations.length / run.result,
      p50Ms: percentile(durations, 50),
      p99Ms: percentile(durations, 99),
      commits: run.commits,
      statements: run.statements,
      idleCommits: idle.commits,
      idleSeconds: idleMs / 1000,
      effectsOnce: effects === 3 * durations.length,
    }),
  );
}
await admin.end();
