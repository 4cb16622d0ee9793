// `npm run bench -- gateway [--quick]`: throughput, latency and CPU per request of an HTTP reverse
// proxy in front of one upstream (a keep-alive node:http server answering ~100 bytes of JSON on any
// path, upstream.ts), load from Debian's wrk (1 thread, 50 connections) on 127.0.0.1 only:
// - direct: wrk straight at the upstream (the ceiling);
// - nginx (Debian's nginx-light, 1 worker, upstream keepalive 64, nginx.ts);
// - @fastify/http-proxy on Fastify (fastify-proxy.ts) and http-proxy with a keep-alive agent
//   (http-proxy.ts), the Node peers;
// - Flotilla's gateway (flotilla-gateway.ts), plain and with JWT (RS256, JWKS file) authentication
//   (`flotilla-auth`: wrk sends `Authorization: Bearer <token>`, bearer-token.ts).
// The upstream is one process for the whole run; each proxy is a fresh process per sample, stopped
// before the next starts; scenarios interleaved (A B C … A B C …), warm-up before each timed run;
// median (min, max) over the samples. Proxy CPU per request: user + system time of the proxy's
// processes (nginx: master and worker) over the timed run, from /proc, per completed request.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AnnouncedChild, spawnAnnounced } from "../lib/child-process.ts";
import { machineLine } from "../lib/machine.ts";
import { markdownTable } from "../lib/markdown-table.ts";
import { publishResults } from "../lib/report.ts";
import { round, summarise } from "../lib/stats.ts";
import { ensureWrk, runWrk, type WrkResult } from "../lib/wrk.ts";
import { bearerCredentials } from "./bearer-token.ts";
import { nginxLaunch, nginxVersion } from "./nginx.ts";
import { processTreeCpu } from "./process-cpu.ts";
import { freePort, httpGet, type ProxyLaunch, type ProxyProcess, startProxy } from "./proxy-process.ts";

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const settings = quick
  ? { samples: 2, warmupSeconds: 1, seconds: 2, connections: 50 }
  : { samples: 5, warmupSeconds: 2, seconds: 8, connections: 50 };
const scenarios = ["direct", "nginx", "fastify-proxy", "http-proxy", "flotilla", "flotilla-auth"] as const;
type Scenario = (typeof scenarios)[number];
type Proxied = Exclude<Scenario, "direct">;
const path = "/api/items/42?view=full";

ensureWrk();
const nginx = nginxVersion();
const versionOf = (name: string): string => {
  for (let dir = here; ; dir = dirname(dir)) {
    const file = join(dir, "node_modules", name, "package.json");
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
    if (dirname(dir) === dir) return "?";
  }
};
const gatewayScript = join(here, "flotilla-gateway.ts");
const gatewayIsStub = readFileSync(gatewayScript, "utf8").startsWith("// STUB");

const workDir = mkdtempSync(join(tmpdir(), "flotilla-gateway-bench-"));
const credentials = bearerCredentials(workDir);
const authHeaders = { authorization: `Bearer ${credentials.token}` };
const headersOf = (scenario: Scenario) => (scenario === "flotilla-auth" ? authHeaders : {});

// Whatever runs now, stopped on the way out, Ctrl-C included.
const interrupted = new AbortController();
let upstream: AnnouncedChild<{ port: number }> | undefined;
let current: ProxyProcess | undefined;
async function cleanUp(): Promise<void> {
  await current?.stop();
  current = undefined;
  await upstream?.stop();
  upstream = undefined;
  rmSync(workDir, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`${signal}: stopping everything this benchmark started\n`);
    interrupted.abort();
    void cleanUp().finally(() => process.exit(130));
  });
}

let started = 0;
function launchOf(
  scenario: Proxied,
  port: number,
  upstreamUrl: string,
  upstreamPort: number,
): ProxyLaunch & { errorLog?: string } {
  const env = { ...process.env, UPSTREAM_URL: upstreamUrl, PORT: String(port), NODE_ENV: "production" };
  switch (scenario) {
    case "nginx":
      return nginxLaunch(join(workDir, `nginx-${++started}`), { port, upstreamPort });
    case "fastify-proxy":
      return { command: process.execPath, args: [join(here, "fastify-proxy.ts")], env };
    case "http-proxy":
      // http-proxy 1.18 calls util._extend, deprecated: one warning line per start otherwise.
      return { command: process.execPath, args: ["--no-deprecation", join(here, "http-proxy.ts")], env };
    case "flotilla":
    case "flotilla-auth":
      return {
        command: process.execPath,
        args: [gatewayScript, scenario === "flotilla" ? "plain" : "auth"],
        env: {
          ...env,
          JWKS_FILE: credentials.jwksFile,
          TOKEN: credentials.token,
          JWT_ISSUER: credentials.issuer,
          JWT_AUDIENCE: credentials.audience,
        },
      };
  }
}

interface Sample extends WrkResult {
  /** Proxy (or, for `direct`, nothing: NaN) and upstream CPU per completed request, µs. */
  readonly proxyCpuUs: number;
  readonly upstreamCpuUs: number;
}

/** What the `flotilla-auth` gateway answered without a token and with a forged one. */
const authProbe: { missing?: number; forged?: number } = {};
let upstreamBodyBytes = 0;

/** CPU µs used so far by a process and its children; NaN for none (the `direct` scenario). */
function cpuOf(label: string, proc: { readonly pid?: number | undefined } | undefined): number {
  if (proc?.pid === undefined) return Number.NaN;
  try {
    return processTreeCpu(proc.pid).cpuUs;
  } catch {
    throw new Error(`${label} (pid ${proc.pid}) is no longer running`);
  }
}

async function measure(scenario: Scenario, upstreamPort: number): Promise<Sample> {
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const expectedBody = (await httpGet(`${upstreamUrl}${path}`)).body;
  upstreamBodyBytes = Buffer.byteLength(expectedBody);
  let url = `${upstreamUrl}${path}`;
  if (scenario !== "direct") {
    const port = await freePort();
    url = `http://127.0.0.1:${port}${path}`;
    const launch = launchOf(scenario, port, upstreamUrl, upstreamPort);
    try {
      current = await startProxy(scenario, launch, { url, headers: headersOf(scenario), expectedBody });
    } catch (error) {
      // nginx reports its start-up failures only to its error log.
      if (launch.errorLog !== undefined && existsSync(launch.errorLog)) {
        process.stderr.write(`nginx error log:\n${readFileSync(launch.errorLog, "utf8")}`);
      }
      throw error;
    }
    if (scenario === "flotilla-auth") {
      authProbe.missing = (await httpGet(url)).status;
      const [head, payload] = credentials.token.split(".");
      authProbe.forged = (await httpGet(url, { authorization: `Bearer ${head}.${payload}.AAAA` })).status;
    }
  }
  try {
    const load = {
      seconds: settings.seconds,
      connections: settings.connections,
      headers: headersOf(scenario),
      signal: interrupted.signal,
    };
    await runWrk(url, { ...load, seconds: settings.warmupSeconds });
    const proxyBefore = cpuOf(scenario, current);
    const upstreamBefore = cpuOf("upstream", upstream?.child);
    const result = await runWrk(url, load);
    const proxyCpu = cpuOf(scenario, current) - proxyBefore;
    const upstreamCpu = cpuOf("upstream", upstream?.child) - upstreamBefore;
    if (result.errors > 0) throw new Error(`${scenario}: ${result.errors} failed requests`);
    return {
      ...result,
      proxyCpuUs: proxyCpu / result.requests,
      upstreamCpuUs: upstreamCpu / result.requests,
    };
  } finally {
    await current?.stop();
    current = undefined;
  }
}

const samples = new Map<Scenario, Sample[]>(scenarios.map((s) => [s, []]));
try {
  upstream = await spawnAnnounced<{ port: number }>("upstream", join(here, "upstream.ts"), [], {
    ...process.env,
    NODE_ENV: "production",
  });
  for (let sample = 1; sample <= settings.samples; sample++) {
    for (const scenario of scenarios) {
      samples.get(scenario)!.push(await measure(scenario, upstream.announcement.port));
    }
    process.stderr.write(`sample ${sample}/${settings.samples} done\n`);
  }
} finally {
  await cleanUp();
}

const rps = (s: Scenario) => summarise(samples.get(s)!.map((x) => x.requestsPerSecond));
const medianOf = (s: Scenario, pick: (x: Sample) => number) => summarise(samples.get(s)!.map(pick)).median;
const p50 = (s: Scenario) => medianOf(s, (x) => x.p50Ms);
const p99 = (s: Scenario) => medianOf(s, (x) => x.p99Ms);
const proxyCpu = (s: Scenario) => medianOf(s, (x) => x.proxyCpuUs);
const upstreamCpu = (s: Scenario) => medianOf(s, (x) => x.upstreamCpuUs);
const gateway = rps("flotilla").median;
const gatewayAuth = rps("flotilla-auth").median;
const direct = rps("direct").median;

const labels: Record<Scenario, string> = {
  direct: "direct (wrk → upstream, no proxy)",
  nginx: `${nginx} (1 worker, upstream keepalive 64)`,
  "fastify-proxy": `@fastify/http-proxy ${versionOf("@fastify/http-proxy")} on Fastify ${versionOf("fastify")}`,
  "http-proxy": `http-proxy ${versionOf("http-proxy")}, keep-alive agent`,
  flotilla: `Flotilla gateway${gatewayIsStub ? " (STUB)" : ""}`,
  "flotilla-auth": `Flotilla gateway + JWT RS256${gatewayIsStub ? " (STUB)" : ""}`,
};
const table = markdownTable(
  [
    "scenario",
    "median req/s",
    "min",
    "max",
    "p50 ms",
    "p99 ms",
    "proxy CPU µs/req",
    "upstream CPU µs/req",
    "÷ direct",
  ],
  scenarios.map((s) => {
    const r = rps(s);
    return [
      labels[s],
      round(r.median),
      round(r.min),
      round(r.max),
      round(p50(s)),
      round(p99(s)),
      s === "direct" ? "—" : round(proxyCpu(s)),
      round(upstreamCpu(s)),
      `${round(r.median / direct)}×`,
    ];
  }),
);

const ratios = {
  gateway_vs_fastify_proxy: round(gateway / rps("fastify-proxy").median),
  gateway_vs_http_proxy: round(gateway / rps("http-proxy").median),
  gateway_vs_nginx: round(gateway / rps("nginx").median),
  gateway_vs_direct: round(gateway / direct),
  gateway_auth_vs_plain: round(gatewayAuth / gateway),
};
// The targets of the gateway's issue: ≥ 2× the Node peers at an equal or lower p99, ≥ 0.6× nginx,
// authentication costing at most a fifth of the throughput.
const targets = {
  gateway_vs_fastify_proxy: {
    min: 2,
    p99_at_most_peer: p99("flotilla") <= p99("fastify-proxy"),
    met: ratios.gateway_vs_fastify_proxy >= 2 && p99("flotilla") <= p99("fastify-proxy"),
  },
  gateway_vs_http_proxy: {
    min: 2,
    p99_at_most_peer: p99("flotilla") <= p99("http-proxy"),
    met: ratios.gateway_vs_http_proxy >= 2 && p99("flotilla") <= p99("http-proxy"),
  },
  gateway_vs_nginx: { min: 0.6, met: ratios.gateway_vs_nginx >= 0.6 },
  gateway_auth_vs_plain: { min: 0.8, met: ratios.gateway_auth_vs_plain >= 0.8 },
};
const authEnforced = authProbe.missing === 401 && authProbe.forged === 401;

const result = {
  bench: "gateway",
  unit: "req/s",
  ours: { gateway: round(gateway), gateway_auth: round(gatewayAuth) },
  peers: {
    nginx: { proxy: round(rps("nginx").median) },
    fastify_proxy: { proxy: round(rps("fastify-proxy").median) },
    http_proxy: { proxy: round(rps("http-proxy").median) },
    direct: { upstream: round(direct) },
  },
  latency_ms: Object.fromEntries(scenarios.map((s) => [s, { p50: round(p50(s)), p99: round(p99(s)) }])),
  proxy_cpu_us_per_request: Object.fromEntries(
    scenarios.filter((s) => s !== "direct").map((s) => [s, round(proxyCpu(s))]),
  ),
  ratios,
  targets,
  auth_enforced: authEnforced,
  gateway_stub: gatewayIsStub,
};

const met = (ok: boolean) => (ok ? "met" : "**not met**");
const command = `npm run bench -- gateway${quick ? " --quick" : ""}`;
const report = [
  `## Gateway benchmark — ${new Date().toISOString().slice(0, 10)}`,
  "",
  `Machine: ${machineLine()}. Command: \`${command}\`. wrk, 1 thread, ${settings.connections} connections, \`GET ${path}\`, ${settings.seconds} s per sample after ${settings.warmupSeconds} s of warm-up, ${settings.samples} samples per scenario, interleaved, each proxy a fresh process per sample; median (min, max); p50/p99 are the medians of the samples' percentiles (wrk --latency). CPU per request is the process's user + system time (from /proc; nginx: master + worker) over the timed run divided by the requests wrk completed — the figure least disturbed by other load on the machine. wrk, the proxy and the upstream share the machine's cores.`,
  "",
  `Upstream: one node:http process (keep-alive) answering every path with ${upstreamBodyBytes} bytes of JSON. nginx: Debian's nginx-light, \`worker_processes 1\`, access log off, upstream \`keepalive 64\`, \`proxy_http_version 1.1\`, \`Connection ""\`, \`keepalive_requests\` raised on both sides (the default 1000 would make wrk reconnect). Node proxies run with NODE_ENV=production. flotilla-auth: every request carries \`Authorization: Bearer <RS256 JWT>\`, verified against a JWKS file (key generated at start).`,
  "",
  table,
  "",
  `**Targets**: ≥ 2× @fastify/http-proxy at ≤ its p99 — ${met(targets.gateway_vs_fastify_proxy.met)} (${ratios.gateway_vs_fastify_proxy}×, p99 ${round(p99("flotilla"))} vs ${round(p99("fastify-proxy"))} ms); ≥ 2× http-proxy at ≤ its p99 — ${met(targets.gateway_vs_http_proxy.met)} (${ratios.gateway_vs_http_proxy}×, p99 ${round(p99("flotilla"))} vs ${round(p99("http-proxy"))} ms); ≥ 0.6× nginx — ${met(targets.gateway_vs_nginx.met)} (${ratios.gateway_vs_nginx}×); auth ≥ 0.8× plain — ${met(targets.gateway_auth_vs_plain.met)} (${ratios.gateway_auth_vs_plain}×).`,
  "",
  ...(authEnforced
    ? []
    : [
        `**Warning**: flotilla-auth answered ${authProbe.missing} without a token and ${authProbe.forged} with a forged signature (expected 401): its figure does not measure JWT verification.`,
        "",
      ]),
  ...(gatewayIsStub
    ? [
        "**Warning**: bench/gateway/flotilla-gateway.ts is still the stub (node:http + undici Pool), not Flotilla's gateway: the Flotilla rows measure nothing of Flotilla.",
        "",
      ]
    : []),
].join("\n");

publishResults(here, report, result, { quick });
