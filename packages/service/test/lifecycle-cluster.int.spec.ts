// Clustering with real processes: the service-process fixture started with FLOTILLA_WORKERS=2 runs
// a node:cluster primary and two workers on one port, each worker its own registered instance
// (<id>-w0, <id>-w1). A worker killed with SIGKILL is started again under the same id; SIGTERM to
// the primary stops both workers gracefully, deregistered, and everything exits 0.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPackage, ChildProcesses, exited } from "@flotilla/registry/testing";
import pg from "pg";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envLeaves, loadServiceConfig } from "../src/lifecycle/load-service-config.js";
import { startTestRegistry, type TestRegistry, until } from "./fixtures/test-registry.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const fixture = join(here, "fixtures", "service-process.ts");
const calleeName = `e2e-cluster-${randomBytes(3).toString("hex")}`;
const calleeDatabase = `flotilla_${calleeName.replaceAll("-", "_")}`;
const children = new ChildProcesses();

type LogLine = Record<string, unknown>;

/** Every JSON line the primary and its workers (which share its stdout) have written so far. */
function collectLogs(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = [];
  let buffered = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const part of parts) {
      if (!part.startsWith("{")) continue;
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        // Not one of our log lines: left out, so a wait for it times out naming what it wanted.
      }
    }
  });
  return lines;
}

/** The log lines matching `fields`, once there are at least `count` of them. */
async function logged(lines: LogLine[], fields: LogLine, count = 1): Promise<LogLine[]> {
  const matching = () => lines.filter((line) => Object.entries(fields).every(([k, v]) => line[k] === v));
  await until(() => matching().length >= count, 20_000, `${count} log line(s) ${JSON.stringify(fields)}`);
  return matching();
}

async function asAdmin<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${database}` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("workers in the config", () => {
  it("reads FLOTILLA_WORKERS, defaults to 1 and refuses 0 and 65", async () => {
    expect(envLeaves.find((leaf) => leaf.name === "FLOTILLA_WORKERS")).toEqual({
      path: ["workers"],
      name: "FLOTILLA_WORKERS",
      kind: "number",
    });
    expect((await loadServiceConfig({ env: {} })).workers).toBe(1);
    expect((await loadServiceConfig({ env: { FLOTILLA_WORKERS: "4" } })).workers).toBe(4);
    for (const bad of ["0", "65", "1.5"]) {
      await expect(loadServiceConfig({ env: { FLOTILLA_WORKERS: bad } })).rejects.toMatchObject({
        code: "FLT_CONFIG_INVALID",
        issues: [{ path: "workers", message: expect.stringMatching(/\(from FLOTILLA_WORKERS\)$/) }],
      });
    }
  });
});

describe("a clustered service process", () => {
  let registry: TestRegistry;
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  const workerPids = new Set<number>();

  beforeAll(async () => {
    buildPackage(join(root, "packages", "service"));
    registry = await startTestRegistry();
  }, 120_000);

  afterAll(async () => {
    await children.killAll();
    // Workers exit with their primary; a test that failed half-way may still leave one behind.
    for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    await agent.close();
    await registry?.stop();
    await asAdmin("postgres", async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(calleeDatabase)} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(calleeDatabase)}`);
    });
  });

  /** POSTs /echo on a new connection each time (the primary hands out connections, not requests). */
  async function echoPid(url: string): Promise<number> {
    const res = await request(`${url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "hi" }),
      reset: true,
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(200);
    return ((await res.body.json()) as { pid: number }).pid;
  }

  /** Sends requests until every pid of `wanted` has answered, at most 40. */
  async function answeredBy(url: string, wanted: readonly number[]): Promise<Set<number>> {
    const seen = new Set<number>();
    for (let i = 0; i < 40 && !wanted.every((pid) => seen.has(pid)); i++) seen.add(await echoPid(url));
    return seen;
  }

  const instances = async () =>
    [...(await registry.client.instances("echo-process", { status: "any" })).instances].sort((a, b) =>
      a.id.localeCompare(b.id),
    );

  it("registers each worker, restarts a killed one under its id, and stops all on SIGTERM", async () => {
    const primary = children.spawn(process.execPath, [fixture], {
      cwd: here,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        FLOTILLA_WORKERS: "2",
        FLOTILLA_REGISTRY_URL: registry.url,
        FLOTILLA_REGISTRY_CHECK_INTERVAL: "200ms",
        FLOTILLA_INSTANCE_ID: "echo-cluster",
        FLOTILLA_TELEMETRY_ENABLED: "false",
        FLOTILLA_SHUTDOWN_LINGER: "200ms",
        FLOTILLA_LOG_PRETTY: "0",
      },
    });
    let stderr = "";
    primary.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const logs = collectLogs(primary);

    // Two workers, each its own instance, listening on one port.
    const started = await logged(logs, { msg: "service started" }, 2);
    for (const line of started) workerPids.add(Number(line.pid));
    expect(started.map((l) => l.instanceId).sort()).toEqual(["echo-cluster-w0", "echo-cluster-w1"]);
    expect(started.every((l) => l.registered === true)).toBe(true);
    const url = String(started[0]!.url);
    expect(started[1]!.url).toBe(url);
    const port = Number(new URL(url).port);
    expect(port).toBeGreaterThan(0);
    const pidOf = (id: string) => Number(started.find((l) => l.instanceId === id)!.pid);
    const [w0, w1] = [pidOf("echo-cluster-w0"), pidOf("echo-cluster-w1")];
    expect(new Set([w0, w1, primary.pid]).size).toBe(3);
    const forks = await logged(logs, { msg: "worker started" }, 2);
    expect(forks.map((l) => [l.worker, l.workerPid, l.instanceId]).sort()).toEqual([
      [0, w0, "echo-cluster-w0"],
      [1, w1, "echo-cluster-w1"],
    ]);
    expect(forks.every((l) => l.pid === primary.pid)).toBe(true);

    const before = await instances();
    expect(before.map((i) => [i.id, i.address, i.port, i.version])).toEqual([
      ["echo-cluster-w0", "127.0.0.1", port, "1.4.0"],
      ["echo-cluster-w1", "127.0.0.1", port, "1.4.0"],
    ]);
    expect(await answeredBy(url, [w0, w1])).toEqual(new Set([w0, w1]));

    // SIGKILL one worker: the primary starts another under the same id, on the same port.
    process.kill(w0, "SIGKILL");
    const [crash] = await logged(logs, { msg: "worker exited unexpectedly", workerPid: w0 });
    expect(crash).toMatchObject({ worker: 0, signal: "SIGKILL" });
    const restarted = (await logged(logs, { msg: "service started", instanceId: "echo-cluster-w0" }, 2))[1]!;
    const w0b = Number(restarted.pid);
    workerPids.add(w0b);
    expect(w0b).not.toBe(w0);
    expect(restarted).toMatchObject({ url, registered: true });
    const replaced = (await instances()).find((i) => i.id === "echo-cluster-w0");
    expect(replaced?.port).toBe(port);
    expect(replaced?.lease).not.toBe(before[0]!.lease);
    expect((await instances()).map((i) => i.id)).toEqual(["echo-cluster-w0", "echo-cluster-w1"]);
    expect(await answeredBy(url, [w0b, w1])).toEqual(new Set([w0b, w1]));

    // SIGTERM to the primary: both workers drain and deregister, and everything exits 0.
    primary.kill("SIGTERM");
    expect(await exited(primary)).toBe(0);
    expect(await instances()).toEqual([]);
    const stopped = await logged(logs, { msg: "service stopped" }, 2);
    expect(stopped.map((l) => l.instanceId).sort()).toEqual(["echo-cluster-w0", "echo-cluster-w1"]);
    const exits = await logged(logs, { msg: "worker exited" }, 2);
    expect(exits.map((l) => [l.workerPid, l.code]).sort()).toEqual(
      [
        [w0b, 0],
        [w1, 0],
      ].sort(),
    );
    expect(await logged(logs, { msg: "cluster stopped" })).toMatchObject([{ exitCode: 0 }]);
    expect([w0b, w1].filter(isAlive)).toEqual([]);
    expect(stderr).toBe("");
  }, 60_000);

  it("gives up with exit code 1 after 5 worker exits within a minute, backing off per worker", async () => {
    // The port is taken, so every worker fails to listen and exits 1.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const primary = children.spawn(process.execPath, [fixture], {
        cwd: here,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          FLOTILLA_WORKERS: "2",
          FLOTILLA_PORT: String(port),
          FLOTILLA_INSTANCE_ID: "echo-crashing",
          FLOTILLA_TELEMETRY_ENABLED: "false",
          FLOTILLA_LOG_PRETTY: "0",
        },
      });
      let stderr = "";
      primary.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const logs = collectLogs(primary);
      expect(await exited(primary)).toBe(1);

      const crashes = logs.filter((l) => l.msg === "worker exited unexpectedly");
      for (const crash of crashes) workerPids.add(Number(crash.workerPid));
      expect(crashes).toHaveLength(5);
      expect(crashes.every((l) => l.code === 1)).toBe(true);
      // 2 + 4 restarts, the last of which may still have been waiting for its delay at the fifth exit.
      const started = logs.filter((l) => l.msg === "worker started").length;
      expect([5, 6]).toContain(started);
      const [givingUp] = logs.filter((l) => l.level === "fatal");
      expect(givingUp).toMatchObject({ exits: 5, windowMs: 60_000 });
      expect(String(givingUp?.msg)).toMatch(/^giving up: 5 worker exits within 60000 ms/);
      for (const worker of [0, 1]) {
        const delays = logs
          .filter((l) => l.msg === "restarting worker" && l.worker === worker)
          .map((l) => l.delayMs);
        expect(delays).toEqual([100, 200, 400, 800].slice(0, delays.length));
      }
      expect(logs.filter((l) => l.msg === "restarting worker")).toHaveLength(4);
      expect(stderr.match(/"msg":"service failed to start"/g)).toHaveLength(started);
      expect(stderr).toMatch(/EADDRINUSE/);
      expect(logs.filter((l) => l.msg === "cluster stopped")).toMatchObject([{ exitCode: 1 }]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("provisions and migrates the database once when two workers start together", async () => {
    const primary = children.spawn(process.execPath, [join(here, "fixtures", "e2e-callee.ts")], {
      cwd: here,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        E2E_NAME: calleeName,
        FLOTILLA_WORKERS: "2",
        FLOTILLA_REGISTRY_URL: registry.url,
        FLOTILLA_INSTANCE_ID: calleeName,
        FLOTILLA_SHUTDOWN_LINGER: "100ms",
        FLOTILLA_LOG_PRETTY: "0",
      },
    });
    let stderr = "";
    primary.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const logs = collectLogs(primary);
    const started = await logged(logs, { msg: "service started" }, 2);
    for (const line of started) workerPids.add(Number(line.pid));
    expect(started.map((l) => l.instanceId).sort()).toEqual([`${calleeName}-w0`, `${calleeName}-w1`]);
    expect(logs.filter((l) => l.msg === "created database")).toHaveLength(1);
    expect(logs.filter((l) => l.msg === "applied migration").map((l) => l.migration)).toEqual([
      "001_effects.sql",
    ]);
    const applied = await asAdmin(calleeDatabase, (client) =>
      client.query<{ n: number }>("SELECT count(*)::int AS n FROM flotilla_migrations"),
    );
    expect(applied.rows).toEqual([{ n: 1 }]);

    primary.kill("SIGTERM");
    expect(await exited(primary)).toBe(0);
    expect((await registry.client.instances(calleeName, { status: "any" })).instances).toEqual([]);
    expect(stderr).toBe("");
  });
});
