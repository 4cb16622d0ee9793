// `npm run bench -- registry [--quick]`: the registry's three figures, in one run.
// Flags: --quick; --propagation-only (part 1 alone); --watchers=N (one watcher count);
// --contenders=blocking,sse,etcd-store,etcd-watch (a subset of part 1); --warmup=N (unmeasured
// changes before part 1's measured ones, default 3: the first changes after the watchers connect run cold code); --cpu (print, for part 1's
// registry contenders, the CPU time of the registry process per watcher per change and of the
// watcher processes per event received, from /proc). Partial runs never write RESULTS.md.
// (1) Change propagation: time from sending a registration to each of 100 and 1,000 watchers
//     receiving the new instance list — the Flotilla registry on its embedded store (SSE streams
//     followed by a discovery cache each, as services watch, and raw blocking queries), on its etcd
//     store, and etcd's own watch used directly (an etcd3 client per watcher on a prefix, the key
//     written with a plain put).
// (2) Heartbeats/s: wrk renewing 1,000 leases over keep-alive connections, embedded and etcd store.
// (3) Balancer pick cost at 10 and 10,000 instances, per algorithm (balancer-pick.ts).
// Every server is its own process (registry-main from dist, etcd from Debian's etcd-server on
// loopback ports of its own). Watchers run in 4 processes (watchers.ts), each watcher with its own
// connection as a service instance would have, timed against this process's registration on the
// shared epoch clock; the same processes host the etcd3 watchers of the direct etcd contender.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type RegistryClient, registryClient } from "@flotilla/registry";
import { startEtcd } from "@flotilla/registry/testing";
import { Etcd3 } from "etcd3";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { publishResults } from "../lib/report.ts";
import { percentile, round } from "../lib/stats.ts";
import { runWorker } from "../lib/worker-runner.ts";
import { ensureWrk, runWrk } from "../lib/wrk.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const propagationOnly = process.argv.includes("--propagation-only");
const cpuFlag = process.argv.includes("--cpu");
const watchersFlag = flag("watchers");
const contendersFlag = flag("contenders");
/** Part (1)'s contenders, by the key `--contenders` names them with. */
const contenders = {
  blocking: "embedded, blocking queries",
  sse: "embedded, SSE (discovery cache)",
  "etcd-store": "etcd store, SSE (discovery cache)",
  "etcd-watch": "etcd watch, direct",
} as const;
type ContenderKey = keyof typeof contenders;
const selected = new Set<ContenderKey>(
  contendersFlag === undefined
    ? (Object.keys(contenders) as ContenderKey[])
    : contendersFlag.split(",").map((key) => {
        if (!(key in contenders)) throw new Error(`--contenders: unknown "${key}"`);
        return key as ContenderKey;
      }),
);
const settings = quick
  ? { rounds: 5, watcherCounts: [100, 1000], heartbeatSeconds: 3, heartbeatWarmup: 1, leases: 1000 }
  : { rounds: 20, watcherCounts: [100, 1000], heartbeatSeconds: 10, heartbeatWarmup: 2, leases: 1000 };
if (watchersFlag !== undefined) settings.watcherCounts = [Number(watchersFlag)];
const warmupRounds = Number(flag("warmup") ?? 3);
const partial = propagationOnly || watchersFlag !== undefined || contendersFlag !== undefined;
const registryMain = join(
  dirname(createRequire(import.meta.url).resolve("@flotilla/registry/package.json")),
  "dist",
  "server",
  "registry-main.js",
);

/** A registry-main process and its URL. */
interface RegistryProcess {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** CPU time (all threads) a process has used so far in user space and in the kernel, in ms; Linux only. */
function cpuMs(pid: number): { readonly user: number; readonly system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    user: (Number(fields[11]) * 1000) / ticksPerSecond,
    system: (Number(fields[12]) * 1000) / ticksPerSecond,
  };
}
const ticksPerSecond = 100;

async function startRegistry(args: readonly string[]): Promise<RegistryProcess> {
  const child: ChildProcess = spawn(process.execPath, [registryMain, "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /registry listening on (http:\/\/[^\s"]+)/.exec(seen);
      if (match !== null) resolve(match[1]!);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`registry-main exited with ${code}:\n${seen}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url,
    pid: child.pid!,
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const watcherProcesses = 4;

/** Watchers spread over {@link watcherProcesses} processes running watchers.ts. */
class WatcherFleet {
  readonly #children: ChildProcess[] = [];

  /** The watcher processes' ids. */
  get pids(): number[] {
    return this.#children.map((child) => child.pid!);
  }
  readonly #waiting = new Map<string, ((message: Record<string, unknown>) => void)[]>();

  private constructor() {}

  static async start(
    mode: "blocking" | "sse" | "etcd",
    url: string,
    watchers: number,
  ): Promise<WatcherFleet> {
    const fleet = new WatcherFleet();
    const per = Math.ceil(watchers / watcherProcesses);
    const readies: Promise<unknown>[] = [];
    for (let k = 0; k < watcherProcesses; k++) {
      const n = Math.min(per, watchers - k * per);
      if (n <= 0) break;
      const child = spawn(process.execPath, [join(here, "watchers.ts"), mode, url, String(n)], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      fleet.#children.push(child);
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const message = JSON.parse(line) as Record<string, unknown>;
        const key = message.ready
          ? "ready"
          : message.armed
            ? `armed:${message.armed}`
            : message.verified
              ? "verified"
              : `id:${message.id}`;
        fleet.#waiting.get(key)?.shift()?.(message);
      });
      readies.push(fleet.#next("ready"));
    }
    await Promise.all(readies);
    return fleet;
  }

  #next(key: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watchers: no "${key}" within 60 s`)), 60_000);
      const list = this.#waiting.get(key) ?? [];
      list.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.#waiting.set(key, list);
    });
  }

  /** Arms every watcher for `id`, makes the change, and returns each watcher's latency in ms. */
  async round(id: string, change: (id: string) => Promise<void>): Promise<number[]> {
    const armed = this.#children.map(() => this.#next(`armed:${id}`));
    const results = this.#children.map(() => this.#next(`id:${id}`));
    for (const child of this.#children) child.stdin!.write(`${JSON.stringify({ expect: id })}\n`);
    await Promise.all(armed);
    const sent = performance.timeOrigin + performance.now();
    await change(id);
    const all = await Promise.all(results);
    return all.flatMap((m) => (m.times as number[]).map((t) => t - sent));
  }

  /**
   * Checks that every watcher holds exactly `expected` (instance ids in the registry's order);
   * throws naming what the others hold.
   */
  async verify(expected: readonly string[]): Promise<void> {
    const answers = this.#children.map(() => this.#next("verified"));
    for (const child of this.#children) child.stdin!.write(`${JSON.stringify({ verify: true })}\n`);
    const want = expected.join(",");
    for (const answer of await Promise.all(answers)) {
      for (const [list, watchers] of Object.entries(answer.verified as Record<string, number>)) {
        if (list !== want) {
          throw new Error(`${watchers} watcher(s) hold [${list}] where the registry holds [${want}]`);
        }
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#children.map((child) => {
        const exited = once(child, "exit");
        child.stdin!.end();
        return exited;
      }),
    );
  }
}

/** Measures `rounds` changes (after `warmupRounds` unmeasured); returns every watcher's latency in ms, sorted. */
async function propagate(
  fleet: WatcherFleet,
  change: (id: string) => Promise<void>,
  label: string,
  serverPid?: number,
): Promise<number[]> {
  const latencies: number[] = [];
  const cpu = () => {
    const server = serverPid === undefined ? { user: 0, system: 0 } : cpuMs(serverPid);
    const watchers = { user: 0, system: 0 };
    for (const pid of fleet.pids) {
      const used = cpuMs(pid);
      watchers.user += used.user;
      watchers.system += used.system;
    }
    return { server, watchers };
  };
  let before = cpu();
  const perRound: number[] = [];
  for (let round = -warmupRounds; round < settings.rounds; round++) {
    if (round === 0 && cpuFlag) before = cpu();
    const times = await fleet.round(`b-${label.replace(/\W+/g, "-")}-${round + warmupRounds}`, change);
    if (round >= 0) latencies.push(...times);
    if (cpuFlag) perRound.push(Math.round(Math.max(...times)));
    // Let blocking watchers send their next query before the next change.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  latencies.sort((a, b) => a - b);
  if (cpuFlag && serverPid !== undefined) {
    const after = cpu();
    const perEvent = (side: "server" | "watchers") => {
      const user = ((after[side].user - before[side].user) * 1000) / latencies.length;
      const system = ((after[side].system - before[side].system) * 1000) / latencies.length;
      return `${round(user + system)} (user ${round(user)}, kernel ${round(system)})`;
    };
    process.stderr.write(
      `${label}: CPU µs per watcher per change — registry ${perEvent("server")}, watcher processes ${perEvent("watchers")}; first watcher after ${round(latencies[0]!)} ms; slowest watcher per round (ms): ${perRound.join(" ")}\n`,
    );
  }
  return latencies;
}

function registerVia(client: RegistryClient) {
  return async (id: string) => {
    await client.register({ service: "bench", id, address: "127.0.0.1", port: 9, ttlMs: 600_000 });
  };
}

interface PropagationRow {
  readonly contender: string;
  readonly watchers: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const rows: PropagationRow[] = [];
function record(contender: string, watchers: number, latencies: readonly number[]): void {
  rows.push({
    contender,
    watchers,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1]!,
  });
  process.stderr.write(`${contender} @ ${watchers}: p99 ${round(percentile(latencies, 99))} ms\n`);
}

if (!propagationOnly) ensureWrk();
const etcd = await startEtcd();
const dataDir = mkdtempSync(join(tmpdir(), "flotilla-bench-registry-"));
const heartbeats: { store: string; rps: number; p99: number; errors: number }[] = [];
try {
  // (1) Propagation.
  for (const watchers of settings.watcherCounts) {
    for (const key of ["blocking", "sse", "etcd-store"] as const) {
      if (!selected.has(key)) continue;
      const contender = contenders[key];
      const registry = await startRegistry(
        contender.startsWith("etcd")
          ? ["--etcd", etcd.endpoint]
          : ["--data-dir", join(dataDir, `p-${watchers}-${rows.length}`)],
      );
      const registrar = registryClient({ url: registry.url });
      const fleet = await WatcherFleet.start(
        contender.includes("SSE") ? "sse" : "blocking",
        registry.url,
        watchers,
      );
      try {
        record(
          contender,
          watchers,
          await propagate(fleet, registerVia(registrar), `${contender}-${watchers}`, registry.pid),
        );
        // Every watcher must end holding the registry's whole list, not just the last instance.
        await fleet.verify((await registrar.instances("bench")).instances.map((i) => i.id));
      } finally {
        await fleet.close();
        await registrar.close();
        await registry.stop();
      }
    }
    if (!selected.has("etcd-watch")) continue;
    const fleet = await WatcherFleet.start("etcd", etcd.endpoint, watchers);
    const writer = new Etcd3({ hosts: etcd.endpoint });
    try {
      record(
        "etcd watch, direct",
        watchers,
        await propagate(
          fleet,
          async (id) => {
            await writer.put(`bench/${id}`).value(JSON.stringify({ id, address: "127.0.0.1", port: 9 }));
          },
          `etcd-${watchers}`,
        ),
      );
    } finally {
      await fleet.close();
      writer.close();
    }
  }

  // (2) Heartbeats/s.
  for (const store of propagationOnly ? [] : (["embedded", "etcd"] as const)) {
    const registry = await startRegistry(
      store === "etcd" ? ["--etcd", etcd.endpoint] : ["--data-dir", join(dataDir, "heartbeats")],
    );
    const client = registryClient({ url: registry.url });
    try {
      const leases: string[] = [];
      for (let k = 0; k < settings.leases; k++) {
        const r = await client.register({
          service: "hb",
          id: `hb-${k}`,
          address: "127.0.0.1",
          port: 10_000 + k,
          ttlMs: 600_000,
        });
        leases.push(r.lease.id);
      }
      const script = join(dataDir, `renew-${store}.lua`);
      writeFileSync(
        script,
        [
          `local leases = { ${leases.map((l) => JSON.stringify(l)).join(", ")} }`,
          "local n = 0",
          "request = function()",
          "  n = n + 1",
          '  return wrk.format("PUT", "/v1/leases/" .. leases[(n % #leases) + 1] .. "/renew")',
          "end",
        ].join("\n"),
      );
      const url = `${registry.url}/`;
      await runWrk(url, { seconds: settings.heartbeatWarmup, connections: 64, script });
      const r = await runWrk(url, { seconds: settings.heartbeatSeconds, connections: 64, script });
      heartbeats.push({ store, rps: r.requestsPerSecond, p99: r.p99Ms, errors: r.errors });
      process.stderr.write(`heartbeats ${store}: ${round(r.requestsPerSecond)}/s\n`);
    } finally {
      await client.close();
      await registry.stop();
    }
  }
} finally {
  await etcd.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

const propagationTable = [
  `### (1) Change propagation — ${settings.rounds} registrations per cell (after ${warmupRounds === 1 ? "one" : warmupRounds} unmeasured), latency from sending the registration to each watcher holding the new list; percentiles over all watchers × rounds`,
  "",
  markdownTable(
    ["contender", "watchers", "p50 ms", "p99 ms", "max ms"],
    rows.map((r) => [r.contender, r.watchers, round(r.p50), round(r.p99), round(r.max)]),
  ),
  "",
];
const at = (contender: string, watchers: number) =>
  rows.find((r) => r.contender === contender && r.watchers === watchers);
const command = `npm run bench -- registry${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
const header = [
  `## Registry benchmark — ${new Date().toISOString().slice(0, 10)}`,
  "",
  `Machine: ${machineLine()}. Command: \`${command}\`. etcd ${"3.4"} from Debian's etcd-server, one member on loopback, fresh data dir.`,
  "",
];

if (propagationOnly) {
  const ours: Record<string, number> = {};
  const etcdWatch: Record<string, number> = {};
  for (const r of rows) {
    const key = (Object.keys(contenders) as ContenderKey[]).find((k) => contenders[k] === r.contender)!;
    const target = key === "etcd-watch" ? etcdWatch : ours;
    const suffix = key === "sse" || key === "etcd-watch" ? "" : `_${key.replace("-", "_")}`;
    target[`propagation_p99_ms_${r.watchers}w${suffix}`] = round(r.p99);
  }
  publishResults(
    here,
    [...header, ...propagationTable].join("\n"),
    { bench: "registry", unit: "ms", ours, peers: { etcd_watch: etcdWatch } },
    { quick: true },
  );
} else {
  // (3) Pick cost, from the balancer benchmark (fresh processes per sample).
  const picks = runWorker<{ results: Record<string, Record<string, number>>; p2c_at_10000_ns: number }>(
    join(here, "balancer-pick.ts"),
    quick ? ["--quick"] : [],
    900_000,
  );
  const ours1000 = at("embedded, SSE (discovery cache)", 1000);
  const etcd1000 = at("etcd watch, direct", 1000);
  const p99 = (row: PropagationRow | undefined) => (row === undefined ? null : round(row.p99));
  const result = {
    bench: "registry",
    unit: "ms / req/s / ns",
    ours: {
      propagation_p99_ms_1000w: p99(ours1000),
      propagation_p99_ms_1000w_blocking: p99(at("embedded, blocking queries", 1000)),
      propagation_p99_ms_1000w_etcd_store: p99(at("etcd store, SSE (discovery cache)", 1000)),
      heartbeats_per_s: round(heartbeats.find((h) => h.store === "embedded")!.rps),
      heartbeats_per_s_etcd_store: round(heartbeats.find((h) => h.store === "etcd")!.rps),
      p2c_pick_ns_10k: picks.p2c_at_10000_ns,
    },
    peers: { etcd_watch: { propagation_p99_ms_1000w: p99(etcd1000) } },
    ratios: {
      propagation_vs_etcd_watch:
        ours1000 === undefined || etcd1000 === undefined ? null : round(etcd1000.p99 / ours1000.p99),
    },
  };
  const pickNames = Object.keys(picks.results);
  const report = [
    ...header,
    ...propagationTable,
    `### (2) Heartbeats — wrk, 1 thread, 64 connections, ${settings.heartbeatSeconds} s after ${settings.heartbeatWarmup} s warm-up, renewing ${settings.leases} leases in turn`,
    "",
    markdownTable(
      ["store", "heartbeats/s", "p99 ms", "errors"],
      heartbeats.map((h) => [h.store, round(h.rps), round(h.p99), h.errors]),
    ),
    "",
    "### (3) Balancer pick — ns per pick, median of fresh processes (balancer-pick.ts)",
    "",
    markdownTable(
      ["balancer", "@ 10", "@ 10,000"],
      pickNames.map((name) => [name, picks.results[name]!["10"]!, picks.results[name]!["10000"]!]),
    ),
    "",
  ].join("\n");
  publishResults(here, report, result, { quick: quick || partial });
}
