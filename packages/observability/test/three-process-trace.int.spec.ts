import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Collector, startCollector } from "../src/collector/collector.js";
import { flattenTraceTree } from "../src/collector/trace-tree.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const fixture = join(here, "fixtures", "hop-service.ts");

interface Hop {
  readonly child: ChildProcess;
  readonly url: string;
  readonly lines: string[];
}

let collector: Collector;
const hops: Hop[] = [];

/** Starts one hop in its own Node process and waits for it to print its port. */
async function startHop(service: string, next: string): Promise<Hop> {
  const child = spawn(process.execPath, [fixture], {
    cwd: root,
    env: {
      ...process.env,
      SERVICE: service,
      NEXT: next,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
      FLOTILLA_LOG_PRETTY: "0",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${service} exited early with ${code}`)));
    reader.on("line", (line) => {
      lines.push(line);
      const parsed = JSON.parse(line) as { port?: number };
      if (parsed.port !== undefined) resolve(parsed.port);
    });
  });
  const hop = { child, url: `http://127.0.0.1:${port}`, lines };
  hops.push(hop);
  return hop;
}

/** Polls an observable condition a bounded number of times; no fixed sleeps. */
async function eventually<T>(probe: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  // The hops run the built package, as a deployed service would.
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-b", join(root, "packages", "observability")], { stdio: "inherit" });
  collector = await startCollector({ port: 0 });
}, 120_000);

afterAll(async () => {
  await Promise.all(
    hops.map(async ({ child }) => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }),
  );
  await collector?.close();
});

describe("a request through edge → A → B, three processes", () => {
  it("carries one trace id across every hop, with parent links, a dependency graph and B's log line", async () => {
    const b = await startHop("svc-b", "");
    const a = await startHop("svc-a", b.url);
    const edge = await startHop("edge", a.url);

    const response = await fetch(`${edge.url}/work/1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      service: "edge",
      downstream: { service: "svc-a", downstream: { service: "svc-b", downstream: null } },
    });

    const summary = await eventually(() => {
      const [trace] = collector.store.listTraces({ service: "svc-b" });
      return trace !== undefined && trace.services.length === 3 && trace.spanCount >= 5 ? trace : undefined;
    }, "a trace that reached all three services");
    const tree = collector.store.getTrace(summary.traceId)!;
    const rows = flattenTraceTree(tree);
    expect(rows.filter((r) => r.orphan)).toEqual([]);
    const spans = rows.map((r) => r.span);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([summary.traceId]));

    const server = (service: string) =>
      spans.find((s) => s.service === service && s.kind === 2 /* SERVER */)!;
    const edgeServer = server("edge");
    const aServer = server("svc-a");
    const bServer = server("svc-b");
    // Each downstream server span's parent is a client span of the caller, in the caller's service.
    const parentOf = (span: { parentSpanId?: string | undefined }) =>
      spans.find((s) => s.spanId === span.parentSpanId);
    expect(parentOf(aServer)?.service).toBe("edge");
    expect(parentOf(aServer)?.kind).toBe(3 /* CLIENT */);
    expect(parentOf(bServer)?.service).toBe("svc-a");
    expect(parentOf(parentOf(bServer)!)?.spanId).toBe(aServer.spanId);
    expect(parentOf(parentOf(aServer)!)?.spanId).toBe(edgeServer.spanId);

    const graph = collector.store.dependencies();
    const edgeOf = (from: string, to: string) =>
      graph.edges.find((e) => e.caller === from && e.callee === to);
    expect(edgeOf("edge", "svc-a")?.calls).toBeGreaterThanOrEqual(1);
    expect(edgeOf("svc-a", "svc-b")?.calls).toBeGreaterThanOrEqual(1);
    expect(edgeOf("svc-a", "svc-b")?.errorRate).toBe(0);

    const logLine = await eventually(
      () =>
        b.lines
          .map((l) => JSON.parse(l) as { msg?: string; trace_id?: string })
          .find((l) => l.msg === "handled in svc-b"),
      "B's log line",
    );
    expect(logLine.trace_id).toBe(summary.traceId);
  }, 60_000);
});
