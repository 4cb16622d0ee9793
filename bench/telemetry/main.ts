// `npm run bench -- telemetry [--quick]`: requests/s of a node:http hello-world, bare and with full
// Flotilla instrumentation (tracing at 100 % and at 10 % sampling exported to the embedded collector
// running beside it, Prometheus metrics, one access-log line per request). Load from Debian's wrk
// on 127.0.0.1 only; every server is a fresh process per sample, contenders interleaved. A server's
// stdout, where its access log goes, is /dev/null: lines are formatted and written as in production
// (where stdout is a file or the journal), but no process of the benchmark spends CPU reading them.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startCollector } from "@flotilla/observability";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { round, summarise } from "../lib/stats.ts";
import { ensureWrk, runWrk } from "../lib/wrk.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const settings = quick
  ? { samples: 3, warmupSeconds: 1, seconds: 3, connections: 32 }
  : { samples: 5, warmupSeconds: 2, seconds: 8, connections: 32 };
// `--parts` adds one contender per part (10 % sampling for tracing) to show where the overhead goes.
const withParts = process.argv.includes("--parts");
const allContenders = ["bare", "full", "sampled", "trace-only", "metrics-only", "log-only"] as const;
type Contender = (typeof allContenders)[number];
const contenders: readonly Contender[] = withParts ? allContenders : ["bare", "full", "sampled"];
/** Server mode and FLOTILLA_BENCH_PARTS of each contender. */
const launch: Record<Contender, { mode: string; parts?: string }> = {
  bare: { mode: "bare" },
  full: { mode: "full" },
  sampled: { mode: "sampled" },
  "trace-only": { mode: "sampled", parts: "trace" },
  "metrics-only": { mode: "sampled", parts: "metrics" },
  "log-only": { mode: "sampled", parts: "log" },
};

ensureWrk();
const collector = await startCollector({ port: 0, maxSpans: 200_000 });

async function measure(contender: Contender) {
  const { mode, parts } = launch[contender];
  const child = spawn(process.execPath, [join(here, "server.ts"), mode], {
    env: {
      ...process.env,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
      ...(parts === undefined ? {} : { FLOTILLA_BENCH_PARTS: parts }),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${contender} server exited with ${code}`)));
    createInterface({ input: child.stderr! }).on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as { port?: number };
        if (parsed.port !== undefined) resolve(parsed.port);
      } catch {
        process.stderr.write(`${contender}: ${line}\n`);
      }
    });
  });
  const url = `http://127.0.0.1:${port}/hello`;
  try {
    await runWrk(url, { seconds: settings.warmupSeconds, connections: settings.connections });
    return await runWrk(url, { seconds: settings.seconds, connections: settings.connections });
  } finally {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }
}

const rps = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
const p99 = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
for (let sample = 1; sample <= settings.samples; sample++) {
  for (const contender of contenders) {
    const result = await measure(contender);
    if (result.errors > 0) throw new Error(`${contender}: ${result.errors} failed requests`);
    rps.get(contender)!.push(result.requestsPerSecond);
    p99.get(contender)!.push(result.p99Ms);
  }
  process.stderr.write(`sample ${sample}/${settings.samples} done\n`);
}
const spansReceived = collector.store.stats();
await collector.close();

const median = (c: Contender) => summarise(rps.get(c)!).median;
const bare = median("bare");
const labels: Record<Contender, string> = {
  bare: "bare node:http",
  full: "instrumented, 100 % sampled",
  sampled: "instrumented, 10 % sampled",
  "trace-only": "tracing only, 10 % sampled",
  "metrics-only": "metrics only",
  "log-only": "access log only",
};
const table = markdownTable(
  ["contender", "median req/s", "min", "max", "p99 ms (median)", "÷ bare"],
  contenders.map((c) => {
    const s = summarise(rps.get(c)!);
    return [
      labels[c],
      round(s.median),
      round(s.min),
      round(s.max),
      round(summarise(p99.get(c)!).median),
      `${round(s.median / bare)}×`,
    ];
  }),
);
const result = {
  bench: "telemetry",
  unit: "req/s",
  ours: { instrumented_full: round(median("full")), instrumented_sampled: round(median("sampled")) },
  peers: { bare: { hello: round(bare) } },
  ratios: {
    instrumented_vs_bare_full: round(median("full") / bare),
    instrumented_vs_bare_sampled: round(median("sampled") / bare),
  },
};
const command = `npm run bench -- telemetry${quick ? " --quick" : ""}${withParts ? " --parts" : ""}`;
const report = [
  `## Telemetry overhead benchmark — ${new Date().toISOString().slice(0, 10)}`,
  "",
  `Machine: ${machineLine()}. Command: \`${command}\`. wrk, 1 thread, ${settings.connections} connections, ${settings.seconds} s per sample after ${settings.warmupSeconds} s of warm-up, ${settings.samples} samples per contender, interleaved, each server a fresh process; median (min, max).`,
  "",
  "Instrumented = `initTelemetry` + `traceHttpServer` (OpenTelemetry SDK tracer, parent-based ratio sampler decided before any span work, batch export over OTLP/HTTP protobuf to the embedded collector running in the benchmark process) + `createMetrics`/`instrumentServer` (duration histogram per request) + one pino JSON access-log line per request to stdout (written through the logger's asynchronous destination to /dev/null, so that no process of the benchmark reads it).",
  "",
  table,
  "",
  `Collector after the run: ${JSON.stringify(spansReceived)}.`,
  "",
].join("\n");
console.log(report);
if (!quick)
  writeFileSync(join(here, "RESULTS.md"), `${report}\n\`\`\`json\n${JSON.stringify(result)}\n\`\`\`\n`);
console.log(JSON.stringify(result));
