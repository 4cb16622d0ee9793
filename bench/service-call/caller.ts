// One sample of the service-call benchmark, in a fresh process: a closed loop of `concurrency`
// calls in flight for `warmup` then `seconds` seconds against the callee, through one contender:
// - `undici`: plain undici `request()` (global dispatcher) to the callee's URL, then `body.json()`;
// - `flotilla`: the typed client of `serviceClients` — discovery from the registry (discovery cache,
//   least-request balancer, version range), timeout + retry + circuit breaker policies — in a
//   process with `initTelemetry` at 10 % sampling (the instrumentations `startService` enables:
//   undici client spans, exported in batches over OTLP to the benchmark's collector);
// - `flotilla-http`: the same with `wire: false`, every call over HTTP/1.1 through undici;
// - `flotilla-untraced` (with `--parts`): the same without `initTelemetry`;
// - `moleculer`: a caller broker (TCP transporter, static URL of the callee node, no UDP discovery)
//   calling `echo.get`, with request timeout, retries and circuit breaker on, tracing off (its default).
// `node caller.ts <contender> <config-json>`; prints one JSON line: calls, req/s, p50/p99 ms, errors,
// and the caller's CPU time per call.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { initTelemetry, type Telemetry } from "@flotilla/observability";
import { discovery, discoveryCache, registryClient } from "@flotilla/registry";
import { serviceClients } from "@flotilla/service";
import { ServiceBroker } from "moleculer";
import { request } from "undici";
import { percentile } from "../lib/stats.ts";
import { echoContract } from "./echo-contract.ts";
import { StallDiagnostics } from "./stall-diagnostics.ts";

interface CallerConfig {
  readonly calleeUrl: string;
  readonly registryUrl: string;
  readonly tracesUrl: string;
  readonly moleculerPort: number;
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

const contender = process.argv[2];
const config = JSON.parse(process.argv[3] ?? "{}") as CallerConfig;

type Call = (id: string) => Promise<unknown>;

/** Builds the contender's call and what to close after the run. */
async function setUp(): Promise<{ call: Call; close: () => Promise<void> }> {
  switch (contender) {
    case "undici": {
      const base = config.calleeUrl;
      return {
        call: async (id) => {
          const { statusCode, body } = await request(`${base}/echo/${id}`);
          const value = await body.json();
          if (statusCode !== 200) throw new Error(`status ${statusCode}`);
          return value;
        },
        close: async () => {},
      };
    }
    case "flotilla":
    case "flotilla-http":
    case "flotilla-untraced": {
      const instanceId = `bench-caller-${process.pid}-${randomBytes(3).toString("hex")}`;
      const telemetry: Telemetry | undefined =
        contender === "flotilla-untraced"
          ? undefined
          : initTelemetry({
              serviceName: "bench-caller",
              instanceId,
              // BENCH_SAMPLE_RATIO: another ratio (an experiment, never published); the callee follows it.
              sampleRatio: Number(process.env.BENCH_SAMPLE_RATIO ?? 0.1),
              // BENCH_EXPORTER_CALLER=none: the same spans, not exported (an experiment, never published).
              exporter: process.env.BENCH_EXPORTER_CALLER === "none" ? "none" : "otlp",
              endpoint: config.tracesUrl,
              // As startService does: outbound undici and http traced, inbound left to the server.
              instrumentations: { http: { incoming: false } },
            });
      const client = registryClient({ url: config.registryUrl });
      const cache = discoveryCache({ client });
      const discover = discovery({ cache, balancer: { algorithm: "least-request" } });
      const deps = serviceClients({
        discovery: discover,
        caller: { service: "bench-caller", instanceId },
        wire: contender !== "flotilla-http",
        dependencies: {
          echo: {
            contract: echoContract,
            versions: "^1.0.0",
            policies: {
              timeout: "2s",
              retry: { maxAttempts: 3 },
              breaker: { failureRateThreshold: 50, slidingWindowSize: 100, minimumNumberOfCalls: 20 },
            },
          },
        },
      });
      const echo = deps.clients.echo;
      return {
        call: (id) => echo.get({ params: { id } }),
        close: async () => {
          await deps.close();
          discover.close();
          await cache.close();
          await client.close();
          await telemetry?.shutdown();
        },
      };
    }
    case "moleculer": {
      const broker = new ServiceBroker({
        nodeID: `caller-${process.pid}`,
        namespace: "flotilla-bench",
        logger: false,
        requestTimeout: 2000,
        retryPolicy: { enabled: true, retries: 2 },
        circuitBreaker: { enabled: true, threshold: 0.5, minRequestCount: 20 },
        transporter: {
          type: "TCP",
          options: { udpDiscovery: false, urls: `127.0.0.1:${config.moleculerPort}/callee` },
        },
      });
      await broker.start();
      await broker.waitForServices(["echo"], 30_000);
      return {
        call: (id) => broker.call("echo.get", { id }),
        close: () => broker.stop(),
      };
    }
    default:
      throw new Error(`unknown contender ${contender}: undici, flotilla or moleculer`);
  }
}

const ids = Array.from({ length: 1000 }, (_, i) => `item-${i}`);
const diagnostics = new StallDiagnostics();

/** Runs the closed loop for `ms`; returns completed calls, elapsed ms, latencies (ms) and errors. */
async function loop(call: Call, ms: number, record: boolean) {
  const latencies: number[] = [];
  let completed = 0;
  let errors = 0;
  let firstError: unknown;
  let next = 0;
  const start = performance.now();
  const end = start + ms;
  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const id = ids[next++ % ids.length]!;
      try {
        await call(id);
        completed++;
        if (record) {
          const now = performance.now();
          latencies.push(now - t0);
          diagnostics.completed(now);
        }
      } catch (error) {
        errors++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, worker));
  return { completed, elapsedMs: performance.now() - start, latencies, errors, firstError };
}

const { call, close } = await setUp();
// The first call waits for discovery (Flotilla) or the node list (Moleculer); not timed. Within
// the 2 s call timeout, so it is tried again for a while before the run counts as failed.
for (let attempt = 1; ; attempt++) {
  try {
    await call("item-0");
    break;
  } catch (error) {
    if (attempt === 10) throw error;
  }
}
const warm = await loop(call, config.warmupSeconds * 1000, false);
// FLOTILLA_BENCH_CPU_PROFILE=<file>: a V8 CPU profile of the timed window only (no start-up, no warm-up).
const profileFile = process.env.FLOTILLA_BENCH_CPU_PROFILE;
const profiler = profileFile === undefined ? undefined : new Session();
if (profiler !== undefined) {
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
}
diagnostics.start();
const cpuBefore = process.cpuUsage();
const run = await loop(call, config.seconds * 1000, true);
const cpu = process.cpuUsage(cpuBefore);
diagnostics.stop();
if (profiler !== undefined) {
  const { profile } = await profiler.post("Profiler.stop");
  writeFileSync(profileFile!, JSON.stringify(profile));
  profiler.disconnect();
}
await close();
if (run.firstError !== undefined)
  process.stderr.write(`${contender}: first error: ${String(run.firstError)}\n`);
const sorted = run.latencies.sort((a, b) => a - b);
process.stderr.write(`${diagnostics.report(contender ?? "", sorted)}\n`);
console.log(
  JSON.stringify({
    contender,
    calls: run.completed,
    requestsPerSecond: (run.completed * 1000) / run.elapsedMs,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    errors: run.errors,
    // This process's CPU (all threads, user + system) per completed call in the timed window.
    cpuUsPerCall: (cpu.user + cpu.system) / run.completed,
    // Every call this process made, the first and the warm-up included.
    allCalls: 1 + warm.completed + warm.errors + run.completed + run.errors,
  }),
);
process.exit(0);
