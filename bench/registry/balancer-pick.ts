// `node bench/registry/balancer-pick.ts [--quick]`: ns per pick of every @flotilla/registry balancer at
// 10 and 10,000 instances, from the built dist. Each (scenario, size) sample runs in a fresh process
// (`--worker <scenario> <size> <minMs> <warmupMs>`) so one balancer's JIT feedback never slows
// another's call site. Prints a Markdown table, then one JSON line.
import { PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  type Balancer,
  type CallResult,
  createBalancer,
  leastRequest,
  type PickContext,
  peakEwma,
  type ServiceInstance,
  seededRandom,
  zoneAware,
} from "@flotilla/registry";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { round, summarise } from "../lib/stats.ts";
import { runWorker } from "../lib/worker-runner.ts";

interface Scenario {
  /** Makes the balancer under test. */
  readonly make: () => Balancer;
  /** Instance weights: all 1, or 1..4 in turn. */
  readonly weighted?: boolean;
  /** Picks carry an affinity key (ring hash, maglev). */
  readonly keyed?: boolean;
  /** Each pick is followed by onStart and onEnd, as a call site does. */
  readonly feedback?: boolean;
}

const seed = 42;
const scenarios: Record<string, Scenario> = {
  "round-robin": { make: () => createBalancer({ algorithm: "round-robin", random: seededRandom(seed) }) },
  random: { make: () => createBalancer({ algorithm: "random", random: seededRandom(seed) }) },
  "random (weighted)": {
    make: () => createBalancer({ algorithm: "random", random: seededRandom(seed) }),
    weighted: true,
  },
  "weighted-round-robin (weighted)": {
    make: () => createBalancer({ algorithm: "weighted-round-robin" }),
    weighted: true,
  },
  "least-request (P2C)": { make: () => leastRequest({ random: seededRandom(seed) }) },
  "least-request (P2C, weighted)": {
    make: () => leastRequest({ random: seededRandom(seed) }),
    weighted: true,
  },
  "least-request + onStart/onEnd": {
    make: () => leastRequest({ random: seededRandom(seed) }),
    feedback: true,
  },
  "peak-ewma (P2C)": { make: () => peakEwma({ random: seededRandom(seed) }) },
  "peak-ewma + onStart/onEnd": { make: () => peakEwma({ random: seededRandom(seed) }), feedback: true },
  "ring-hash (keyed)": {
    make: () => createBalancer({ algorithm: "ring-hash", random: seededRandom(seed) }),
    keyed: true,
  },
  "maglev (keyed)": {
    make: () => createBalancer({ algorithm: "maglev", random: seededRandom(seed) }),
    keyed: true,
  },
  "zone-aware(least-request)": {
    make: () => zoneAware({ zone: "z0", balancer: () => leastRequest({ random: seededRandom(seed) }) }),
  },
};
const sizes = [10, 10_000];

function instances(n: number, weighted: boolean): ServiceInstance[] {
  return Array.from({ length: n }, (_, k) => ({
    id: `svc-${k}`,
    service: "svc",
    address: `10.0.${k >> 8}.${k & 255}`,
    port: 8080,
    version: "1.0.0",
    zone: `z${k % 3}`,
    weight: weighted ? 1 + (k % 4) : 1,
    tags: [],
    metadata: {},
  }));
}

interface Sample {
  readonly nsPerPick: number;
  readonly updateMs: number;
  /** Garbage collections (any kind) observed while timing: 0 means no allocation per pick. */
  readonly gcs: number;
  readonly sink: number;
}

async function worker(name: string, size: number, minMs: number, warmupMs: number): Promise<Sample> {
  const scenario = scenarios[name];
  if (scenario === undefined) throw new Error(`unknown scenario ${name}`);
  const b = scenario.make();
  const members = instances(size, scenario.weighted === true);
  const t0 = performance.now();
  b.update(members);
  const updateMs = performance.now() - t0;
  const contexts: (PickContext | undefined)[] = Array.from({ length: 1024 }, (_, k) =>
    scenario.keyed ? { key: `user-${k * 7919}` } : undefined,
  );
  const result: CallResult = { latencyMs: 12, status: 200 };
  let sink = 0;
  const run = scenario.feedback
    ? (n: number) => {
        for (let k = 0; k < n; k++) {
          const i = b.pick(contexts[k & 1023])!;
          b.onStart?.(i);
          b.onEnd?.(i, result);
          sink += i.port;
        }
      }
    : (n: number) => {
        for (let k = 0; k < n; k++) sink += b.pick(contexts[k & 1023])!.port;
      };
  // Batches sized to ~1 ms so slow (O(n)) balancers are timed as fairly as fast ones.
  let batch = 1000;
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) {
    const s = performance.now();
    run(batch);
    if (performance.now() - s < 1) batch *= 2;
  }
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  (globalThis as { gc?: () => void }).gc?.();
  observer.observe({ entryTypes: ["gc"] });
  let picks = 0;
  const start = performance.now();
  let now = start;
  while (now - start < minMs) {
    run(batch);
    picks += batch;
    now = performance.now();
  }
  await new Promise((resolve) => setImmediate(resolve));
  observer.disconnect();
  return { nsPerPick: ((now - start) * 1e6) / picks, updateMs, gcs, sink };
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const settings = quick
    ? { samples: 1, minMs: 200, warmupMs: 100 }
    : { samples: 3, minMs: 1000, warmupMs: 300 };
  const self = fileURLToPath(import.meta.url);
  const raw = new Map<string, Sample[]>();
  for (let sample = 1; sample <= settings.samples; sample++) {
    for (const name of Object.keys(scenarios)) {
      for (const size of sizes) {
        const s = runWorker<Sample>(self, [
          "--worker",
          name,
          String(size),
          String(settings.minMs),
          String(settings.warmupMs),
        ]);
        const key = `${name}@${size}`;
        raw.set(key, [...(raw.get(key) ?? []), s]);
      }
    }
    process.stderr.write(`sample ${sample}/${settings.samples} done\n`);
  }
  const median = (name: string, size: number, field: "nsPerPick" | "updateMs") =>
    summarise(raw.get(`${name}@${size}`)!.map((s) => s[field])).median;
  const gcs = (name: string, size: number) => Math.max(...raw.get(`${name}@${size}`)!.map((s) => s.gcs));
  const rows = Object.keys(scenarios).map((name) => [
    name,
    ...sizes.map((size) => round(median(name, size, "nsPerPick"))),
    ...sizes.map((size) => round(median(name, size, "updateMs"))),
    sizes.map((size) => gcs(name, size)).join(" / "),
  ]);
  console.log(
    [
      `## Balancer pick — ${new Date().toISOString().slice(0, 10)}`,
      "",
      `Machine: ${machineLine()}. Command: \`node bench/registry/balancer-pick.ts${quick ? " --quick" : ""}\`. ` +
        `${settings.samples} sample(s) per cell, each a fresh process timing ≥ ${settings.minMs} ms of picks after ${settings.warmupMs} ms of warm-up; median. ` +
        "Weighted rows use weights 1, 2, 3, 4 in turn; keyed rows hash one of 1,024 keys per pick; " +
        "GCs counts collections seen while timing (0 = no allocation per pick).",
      "",
      markdownTable(
        [
          "balancer",
          ...sizes.map((s) => `ns/pick @ ${s.toLocaleString("en")}`),
          ...sizes.map((s) => `update ms @ ${s.toLocaleString("en")}`),
          "GCs",
        ],
        rows,
      ),
      "",
    ].join("\n"),
  );
  const result = {
    bench: "registry-balancer-pick",
    unit: "ns/pick",
    results: Object.fromEntries(
      Object.keys(scenarios).map((name) => [
        name,
        Object.fromEntries(sizes.map((size) => [String(size), round(median(name, size, "nsPerPick"))])),
      ]),
    ),
    p2c_at_10000_ns: round(median("least-request (P2C)", 10_000, "nsPerPick")),
    p2c_target_ns: 200,
  };
  console.log(JSON.stringify(result));
}

if (process.argv[2] === "--worker") {
  const [, name, size, minMs, warmupMs] = process.argv.slice(2);
  console.log(JSON.stringify(await worker(name!, Number(size), Number(minMs), Number(warmupMs))));
} else {
  await main();
}
