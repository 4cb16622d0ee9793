// `npm run bench -- service-call [--quick] [--profile]`: the cost of one service-to-service call
// (issue #5). A closed loop of 32 calls in flight from a caller process to a callee process, both
// on 127.0.0.1, through three contenders:
// - plain undici `request()` + `body.json()` to the callee's Flotilla service (the floor);
// - Flotilla's typed service client: discovery from the registry, least-request balancer,
//   timeout + retry + breaker, tracing at 10 % exported to the collector (caller.ts says how);
// - a Moleculer 0.15 broker call over its TCP transporter to a broker in the callee process.
// The registry (embedded store) and the OTLP collector run in this process; the callee
// (callee.ts) is one process for the whole run; every sample is a fresh caller process, with
// warm-up; contenders interleaved (A B C A B C …); median (min, max) over the samples.
// `--profile` writes a V8 CPU profile of each caller's timed window to a temporary directory.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, createMetrics, startCollector } from "@flotilla/observability";
import { embeddedStore, registryServer } from "@flotilla/registry";
import { runWorkerAsync, spawnAnnounced } from "../lib/child-process.ts";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { publishResults } from "../lib/report.ts";
import { round, summarise } from "../lib/stats.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const profile = process.argv.includes("--profile");
const settings = quick
  ? { samples: 2, warmupSeconds: 1, seconds: 2.5, concurrency: 32 }
  : { samples: 5, warmupSeconds: 2, seconds: 8, concurrency: 32 };
// `--parts` adds the Flotilla client without telemetry, to show what tracing costs the caller.
const withParts = process.argv.includes("--parts");
const allContenders = ["undici", "flotilla", "flotilla-http", "moleculer", "flotilla-untraced"] as const;
type Contender = (typeof allContenders)[number];
// Experiments, never published (a summary on stdout instead of RESULTS.md):
// `--only=flotilla,moleculer` runs just those contenders; BENCH_EXPORTER_CALLER=none and
// BENCH_EXPORTER_CALLEE=none keep the spans but do not export them; BENCH_MAX_SPANS sets the
// collector's retention; BENCH_SAMPLE_RATIO sets the caller's sampling ratio (the callee's spans
// follow the caller's decision). Every caller also prints its GCs and stalls to stderr (stall-diagnostics.ts).
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
if (only?.some((c) => !(allContenders as readonly string[]).includes(c))) {
  throw new Error(`--only takes a comma-separated list of ${allContenders.join(", ")}`);
}
const experiment =
  only !== undefined ||
  ["BENCH_EXPORTER_CALLER", "BENCH_EXPORTER_CALLEE", "BENCH_MAX_SPANS", "BENCH_SAMPLE_RATIO"].some(
    (name) => process.env[name] !== undefined,
  );
const contenders: readonly Contender[] =
  only !== undefined
    ? (only as Contender[])
    : withParts
      ? allContenders
      : ["undici", "flotilla", "flotilla-http", "moleculer"];

interface Sample {
  readonly calls: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly cpuUsPerCall: number;
  readonly allCalls: number;
}

/** CPU time (user + system) a process has used so far, in µs, from /proc (Linux). */
const clockTick = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * clockTick; // utime, stime
}

const quiet = { level: "warn" as const, pretty: false };
const collector = await startCollector({ port: 0, maxSpans: Number(process.env.BENCH_MAX_SPANS ?? 200_000) });
const tracesUrl = `${collector.url}/v1/traces`;
const store = await embeddedStore();
const registry = registryServer({
  store,
  logger: createLogger({ service: "registry", instanceId: "bench", ...quiet }),
  metrics: createMetrics({ service: "registry", instanceId: "bench", collectDefaults: false }),
});
const { port: registryPort } = await registry.listen(0);
const registryUrl = `http://127.0.0.1:${registryPort}`;

const callee = await spawnAnnounced<{ url: string; moleculerPort: number }>(
  "callee",
  join(here, "callee.ts"),
  [registryUrl, tracesUrl],
  { ...process.env, NODE_ENV: "production" },
);
const profileDir = profile ? mkdtempSync(join(tmpdir(), "service-call-prof-")) : undefined;

const calleePid = callee.child.pid!;
const samples = new Map<Contender, (Sample & { calleeCpuUsPerCall: number })[]>(
  contenders.map((c) => [c, []]),
);
let spansReceived: unknown;
try {
  for (let sample = 1; sample <= settings.samples; sample++) {
    for (const contender of contenders) {
      const calleeCpuBefore = processCpuUs(calleePid);
      const mainCpuBefore = process.cpuUsage();
      const result = await runWorkerAsync<Sample>(
        join(here, "caller.ts"),
        [
          contender,
          JSON.stringify({
            calleeUrl: callee.announcement.url,
            registryUrl,
            tracesUrl,
            moleculerPort: callee.announcement.moleculerPort,
            concurrency: settings.concurrency,
            warmupSeconds: settings.warmupSeconds,
            seconds: settings.seconds,
          }),
        ],
        profileDir === undefined
          ? {}
          : {
              env: {
                ...process.env,
                FLOTILLA_BENCH_CPU_PROFILE: join(profileDir, `${contender}-${sample}.cpuprofile`),
              },
            },
      );
      if (result.errors > 0) throw new Error(`${contender}: ${result.errors} failed calls`);
      const calleeCpuUsPerCall = (processCpuUs(calleePid) - calleeCpuBefore) / result.allCalls;
      const mainCpu = process.cpuUsage(mainCpuBefore);
      process.stderr.write(
        `${contender}: benchmark process (collector, registry) ${round((mainCpu.user + mainCpu.system) / result.allCalls)} µs/call\n`,
      );
      samples.get(contender)!.push({ ...result, calleeCpuUsPerCall });
      if (profileDir !== undefined) {
        process.stderr.write(
          `${contender} sample ${sample}: ${result.calls} calls in the profiled window (${contender}-${sample}.cpuprofile)\n`,
        );
      }
    }
    process.stderr.write(`sample ${sample}/${settings.samples} done\n`);
  }
} finally {
  await callee.stop();
  await registry.close();
  await store.close();
  spansReceived = collector.store.stats();
  await collector.close();
}

const rps = (c: Contender) => summarise(samples.get(c)!.map((s) => s.requestsPerSecond));
const p50 = (c: Contender) => summarise(samples.get(c)!.map((s) => s.p50Ms));
const p99 = (c: Contender) => summarise(samples.get(c)!.map((s) => s.p99Ms));
const cpu = (c: Contender) => summarise(samples.get(c)!.map((s) => s.cpuUsPerCall));
const calleeCpu = (c: Contender) => summarise(samples.get(c)!.map((s) => s.calleeCpuUsPerCall));
if (experiment) {
  for (const c of contenders) {
    process.stdout.write(
      `${c}: ${round(rps(c).median)} req/s (${samples
        .get(c)!
        .map((s) => round(s.requestsPerSecond))
        .join(
          ", ",
        )}), p50 ${round(p50(c).median)} ms, p99 ${round(p99(c).median)} ms, caller ${round(cpu(c).median)} µs/call, callee ${round(calleeCpu(c).median)} µs/call\n`,
    );
  }
  process.exit(0);
}
const flotilla = rps("flotilla").median;
const undici = rps("undici").median;
const moleculer = rps("moleculer").median;
const labels: Record<Contender, string> = {
  undici: "plain undici request + body.json()",
  flotilla: "Flotilla typed client (discovery, policies, tracing 10 %), wire protocol (the default)",
  "flotilla-http": "the same Flotilla client with `wire: false` (HTTP/1.1 through undici)",
  moleculer: "Moleculer 0.15 broker.call over TCP",
  "flotilla-untraced": "Flotilla typed client, no telemetry",
};
const table = markdownTable(
  [
    "contender",
    "median req/s",
    "min",
    "max",
    "p50 ms",
    "p99 ms",
    "caller CPU µs/call",
    "callee CPU µs/call",
    "Flotilla ÷ this",
  ],
  contenders.map((c) => {
    const s = rps(c);
    return [
      labels[c],
      round(s.median),
      round(s.min),
      round(s.max),
      round(p50(c).median),
      round(p99(c).median),
      round(cpu(c).median),
      round(calleeCpu(c).median),
      `${round(flotilla / s.median)}×`,
    ];
  }),
);
const result = {
  bench: "service-call",
  unit: "req/s",
  ours: { flotilla_client: round(flotilla) },
  peers: { undici: { plain_request: round(undici) }, moleculer: { broker_call_tcp: round(moleculer) } },
  latency_ms: Object.fromEntries(
    contenders.map((c) => [c, { p50: round(p50(c).median), p99: round(p99(c).median) }]),
  ),
  caller_cpu_us_per_call: Object.fromEntries(contenders.map((c) => [c, round(cpu(c).median)])),
  callee_cpu_us_per_call: Object.fromEntries(contenders.map((c) => [c, round(calleeCpu(c).median)])),
  ratios: {
    flotilla_vs_undici: round(flotilla / undici),
    flotilla_vs_moleculer: round(flotilla / moleculer),
    flotilla_http_vs_undici: round(rps("flotilla-http").median / undici),
  },
};
const command = `npm run bench -- service-call${quick ? " --quick" : ""}${withParts ? " --parts" : ""}`;
const report = [
  `## Service-call benchmark — ${new Date().toISOString().slice(0, 10)}`,
  "",
  `Machine: ${machineLine()}. Command: \`${command}\`. Closed loop, ${settings.concurrency} calls in flight, ${settings.seconds} s per sample after ${settings.warmupSeconds} s of warm-up, ${settings.samples} samples per contender, interleaved, each sample a fresh caller process; median (min, max); p50/p99 are the medians of the samples' percentiles; caller CPU is the caller process's user + system time per call in the timed window (all its threads), callee CPU the callee process's (from /proc) over the caller's whole run per call made — the figures least disturbed by other load on the machine.`,
  "",
  "Callee: one process (NODE_ENV=production) with the Flotilla service `GET /echo/:id` (startService, no database, registered with the embedded-store registry in the benchmark process, server tracing at 10 %) and a Moleculer broker exposing `echo.get` over the TCP transporter (static URLs, no UDP discovery). Flotilla caller: `serviceClients` over registry discovery (least-request, version range `^1.0.0`), policies timeout 2 s + retry (3 attempts) + breaker, response validated against the contract, `initTelemetry` at 10 % sampling with the undici instrumentation, OTLP/HTTP protobuf batches to the embedded collector in the benchmark process. The callee registers with `flotilla.wire=1`, so by default the typed client's calls take the Flotilla wire protocol: one connection per instance, upgraded from HTTP/1.1 on the service's own port, calls multiplexed as frames carrying the same method, path, headers, status and body (client and server spans, deadline, caller and idempotency headers as over HTTP); `flotilla-http` is the same client with `wire: false`. Plain undici calls the same callee process over HTTP. Moleculer caller: request timeout 2 s, retries 2, circuit breaker on, tracing off (its default).",
  "",
  table,
  "",
  `Collector after the run: ${JSON.stringify(spansReceived)}.`,
  "",
].join("\n");
if (profileDir !== undefined) process.stderr.write(`CPU profiles of the callers: ${profileDir}\n`);
publishResults(here, report, result, { quick });
