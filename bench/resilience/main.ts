// `npm run bench -- resilience [--quick]`: Flotilla's policies against a bare call, cockatiel and opossum.
// Contenders are interleaved sample by sample, each sample in a fresh process (see ../lib/worker-runner.ts).
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { round, type Summary, summarise } from "../lib/stats.ts";
import { runWorker } from "../lib/worker-runner.ts";
import { type Contender, lineup, type Scenario } from "./contenders.ts";

const here = dirname(fileURLToPath(import.meta.url));
const worker = join(here, "worker.ts");
const quick = process.argv.includes("--quick");
const settings = quick
  ? { samples: 3, minMs: 150, warmupMs: 60, heapCalls: 500_000 }
  : { samples: 5, minMs: 1000, warmupMs: 300, heapCalls: 5_000_000 };

const scenarios = Object.keys(lineup) as Scenario[];
const raw = new Map<string, number[]>();
const key = (s: string, c: string) => `${s}/${c}`;

for (let sample = 1; sample <= settings.samples; sample++) {
  for (const scenario of scenarios) {
    for (const contender of lineup[scenario]) {
      const { nsPerOp } = runWorker<{ nsPerOp: number }>(worker, [
        scenario,
        contender,
        String(settings.minMs),
        String(settings.warmupMs),
      ]);
      const list = raw.get(key(scenario, contender)) ?? [];
      list.push(nsPerOp);
      raw.set(key(scenario, contender), list);
    }
  }
  process.stderr.write(`sample ${sample}/${settings.samples} done\n`);
}

const heap: Partial<Record<Contender, number>> = {};
for (const contender of lineup.breaker) {
  heap[contender] = runWorker<{ heapGrowthMb: number }>(worker, [
    "heap",
    contender,
    String(settings.heapCalls),
  ]).heapGrowthMb;
}

const stat = (s: Scenario, c: Contender): Summary => summarise(raw.get(key(s, c))!);
const ratio = (peer: number, ours: number) => round(peer / ours);

const sections: string[] = [];
for (const scenario of scenarios) {
  const bare = stat(scenario, "bare").median;
  const ours = stat(scenario, "flotilla").median;
  const rows = lineup[scenario].map((c) => {
    const s = stat(scenario, c);
    return [
      c,
      round(s.median),
      round(s.min),
      round(s.max),
      `${round(s.median / bare)}×`,
      c === "flotilla" || c === "bare" ? "" : `${ratio(s.median, ours)}×`,
    ];
  });
  sections.push(
    `### ${scenario}\n\n${markdownTable(
      ["contender", "median ns/op", "min", "max", "cost ÷ bare", "Flotilla faster by"],
      rows,
    )}`,
  );
}
sections.push(
  `### retained heap after ${settings.heapCalls.toLocaleString("en")} breaker calls\n\n${markdownTable(
    ["contender", "heap growth MB"],
    lineup.breaker.map((c) => [c, round(heap[c]!)]),
  )}`,
);

const med = (s: Scenario, c: Contender) => stat(s, c).median;
const result = {
  bench: "resilience",
  unit: "ns/op",
  ours: Object.fromEntries(scenarios.map((s) => [s, round(med(s, "flotilla"))])),
  bare: Object.fromEntries(scenarios.map((s) => [s, round(med(s, "bare"))])),
  peers: {
    cockatiel: Object.fromEntries(scenarios.map((s) => [s, round(med(s, "cockatiel"))])),
    opossum: Object.fromEntries(
      scenarios.filter((s) => lineup[s].includes("opossum")).map((s) => [s, round(med(s, "opossum"))]),
    ),
  },
  heap_mb: Object.fromEntries(Object.entries(heap).map(([c, v]) => [c, round(v)])),
  ratios: {
    breaker_vs_cockatiel: ratio(med("breaker", "cockatiel"), med("breaker", "flotilla")),
    breaker_vs_opossum: ratio(med("breaker", "opossum"), med("breaker", "flotilla")),
    breaker_timed_vs_cockatiel: ratio(med("breaker_timed", "cockatiel"), med("breaker_timed", "flotilla")),
    breaker_timed_vs_opossum: ratio(med("breaker_timed", "opossum"), med("breaker_timed", "flotilla")),
    pipeline_vs_cockatiel: ratio(med("pipeline", "cockatiel"), med("pipeline", "flotilla")),
    bulkhead_vs_cockatiel: ratio(med("bulkhead", "cockatiel"), med("bulkhead", "flotilla")),
    bulkhead_vs_opossum: ratio(med("bulkhead", "opossum"), med("bulkhead", "flotilla")),
    bulkhead_queue_vs_cockatiel: ratio(med("bulkhead_queue", "cockatiel"), med("bulkhead_queue", "flotilla")),
    // As the issue defines it: our cost ÷ the bare call (smaller is better, target ≤ 2.5).
    breaker_vs_bare: round(med("breaker", "flotilla") / med("breaker", "bare")),
    breaker_timed_vs_bare: round(med("breaker_timed", "flotilla") / med("breaker_timed", "bare")),
    heap_growth_mb: round(heap.flotilla!),
  },
};

const notes = [
  "What each row runs (see contenders.ts):",
  "- `breaker`: Flotilla COUNT_BASED window of 100 without slow-call timing (`slowCallDurationThreshold: Infinity`), like cockatiel's `ConsecutiveBreaker(5)`, which times nothing; opossum with its defaults (10 s timeout, rolling stats).",
  "- `breaker_timed`: Flotilla with Resilience4j's defaults, which time every call for slow-call detection (two clock reads, ~40 ns each on this machine); cockatiel's `SamplingBreaker` (time-based); opossum as above.",
  "- `pipeline`: Flotilla `pipeline(retry(3), breaker, timeout(1 s))` against cockatiel `wrap(retry, breaker, timeout(1 s, Cooperative))`; the timeout is armed on every call.",
  "- `bulkhead`: 10 calls at once through 10 slots (cockatiel `bulkhead(10, 100)`, opossum `capacity: 10`); `bulkhead_queue`: 32 at once, so 22 wait in the queue.",
  "- heap: retained heap (after GC) across the given number of `breaker` calls.",
];
const command = `npm run bench -- resilience${quick ? " --quick" : ""}`;
const report = [
  `## Resilience benchmark — ${new Date().toISOString().slice(0, 10)}`,
  "",
  `Machine: ${machineLine()}. Command: \`${command}\`. ${settings.samples} samples per contender, interleaved, each a fresh process measuring ≥ ${settings.minMs} ms after ${settings.warmupMs} ms of warm-up; median (min, max).`,
  "",
  ...notes,
  "",
  ...sections.flatMap((s) => [s, ""]),
].join("\n");

console.log(report);
if (!quick)
  writeFileSync(join(here, "RESULTS.md"), `${report}\n\`\`\`json\n${JSON.stringify(result)}\n\`\`\`\n`);
console.log(JSON.stringify(result));
