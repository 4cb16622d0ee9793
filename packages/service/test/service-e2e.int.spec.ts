// The "Done when" scenarios with real processes and real PostgreSQL: service A (caller)
// and three instances of service B (callee), each a child process started by the pinned node
// from the built package, each registering itself with a registry running in this process. B's
// instances provision and migrate their own database at once (advisory locks) and share it.

import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPackage, ChildProcesses, exited } from "@flotilla/registry/testing";
import pg from "pg";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRegistry, type TestRegistry, until } from "./fixtures/test-registry.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const suffix = randomBytes(3).toString("hex");
const calleeName = `e2e-b-${suffix}`;
const callerName = `e2e-a-${suffix}`;
const calleeDatabase = `flotilla_${calleeName.replaceAll("-", "_")}`;

interface Proc {
  readonly child: ChildProcess;
  readonly id: string;
  readonly url: string;
  stderr(): string;
}

/** Every child spawned, from spawn on: afterAll kills what is left, even after a failed start. */
const children = new ChildProcesses();
const agent = new Agent({ keepAliveTimeout: 1_000, connections: 32 });

/** Starts a fixture process and resolves once it logged "service started" (rejects if it exits first). */
function startProc(fixture: string, id: string, env: Record<string, string>): Promise<Proc> {
  const child = children.spawn(process.execPath, [join(here, "fixtures", fixture)], {
    cwd: here,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      ...env,
      FLOTILLA_INSTANCE_ID: id,
      FLOTILLA_REGISTRY_URL: registry.url,
      FLOTILLA_REGISTRY_CHECK_INTERVAL: "200ms",
      FLOTILLA_SHUTDOWN_LINGER: "400ms",
      FLOTILLA_SHUTDOWN_DRAIN_TIMEOUT: "5s",
      FLOTILLA_LOG_PRETTY: "0",
    },
  });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const line of stdout.split("\n")) {
        if (!line.includes('"service started"')) continue;
        const started = JSON.parse(line) as { url: string };
        child.stdout?.off("data", onData);
        child.off("exit", onExit);
        // Keep draining stdout so the child never blocks on a full pipe.
        child.stdout?.on("data", () => {});
        resolve({ child, id, url: started.url, stderr: () => stderr });
        return;
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`${id} exited (${code}) before starting:\n${stdout}\n${stderr}`));
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
}

const startCallee = (id: string, version = "1.0.0") =>
  startProc("e2e-callee.ts", id, { E2E_NAME: calleeName, E2E_VERSION: version });

/** SIGTERM, then the exit code. */
async function terminate(proc: Proc): Promise<number | null> {
  proc.child.kill("SIGTERM");
  return exited(proc.child);
}

/** Ids of the instances of B the registry reports passing. */
async function passing(): Promise<string[]> {
  const { instances } = await registry.client.instances(calleeName);
  return instances.map((i) => i.id);
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers, dispatcher: agent });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

async function post(url: string, body: unknown) {
  const res = await request(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    dispatcher: agent,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

interface CalleeStats {
  whoami: number;
  applyRequests: number;
  replayed: number;
  inProgress: number;
  applied: number;
  aborted: number;
}

/** Sums of the stats of B's current instances. */
async function calleeStats(): Promise<CalleeStats> {
  const sum: CalleeStats = {
    whoami: 0,
    applyRequests: 0,
    replayed: 0,
    inProgress: 0,
    applied: 0,
    aborted: 0,
  };
  for (const b of callees) {
    const { body } = await get(`${b.url}/stats`);
    for (const key of Object.keys(sum) as (keyof CalleeStats)[]) sum[key] += body[key] as number;
  }
  return sum;
}

async function control(mode: { fail: boolean; leafDelayMs: number }): Promise<void> {
  for (const b of callees) expect((await post(`${b.url}/control`, mode)).status).toBe(200);
}

async function asAdmin<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let registry: TestRegistry;
type Profile = "spread" | "guarded" | "deadlines" | "effects";
/** One A per profile of policies (a service has one set per dependency). */
const callers = new Map<Profile, Proc>();
let callees: Proc[] = [];

/** The URL of the A with `profile`'s policies. */
function caller(profile: Profile): string {
  return callers.get(profile)!.url;
}

describe("services A and B as real processes", () => {
  beforeAll(async () => {
    buildPackage(join(root, "packages", "service"));
    registry = await startTestRegistry();
    const profiles: Profile[] = ["spread", "guarded", "deadlines", "effects"];
    const started = await Promise.all([
      ...[1, 2, 3].map((n) => startCallee(`${calleeName}-${n}`)),
      ...profiles.map((profile) =>
        startProc("e2e-caller.ts", `${callerName}-${profile}`, {
          E2E_NAME: callerName,
          E2E_CALLEE: calleeName,
          E2E_PROFILE: profile,
        }),
      ),
    ]);
    callees = started.slice(0, 3);
    for (const [i, profile] of profiles.entries()) callers.set(profile, started[3 + i]!);
    await until(async () => (await passing()).length === 3, 10_000, "three passing instances of B");
  }, 120_000);

  afterAll(async () => {
    await children.killAll();
    await agent.close();
    await registry?.stop();
    await asAdmin("postgres", async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(calleeDatabase)} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(calleeDatabase)}`);
    });
  });

  it("spreads A's calls over B's three instances", async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const { status, body } = await get(`${caller("spread")}/spread`);
      expect(status).toBe(200);
      counts.set(String(body.instance), (counts.get(String(body.instance)) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(callees.map((b) => b.id).sort());
    for (const n of counts.values()) expect(n).toBeGreaterThan(0);
  });

  it("never calls B 2.0.0 from a client that requires ^1.0.0", async () => {
    const v2 = await startCallee(`${calleeName}-v2`, "2.0.0");
    try {
      await until(async () => (await passing()).includes(v2.id), 10_000, "B 2.0.0 passing");
      // It is a live instance of B, only in the wrong major version.
      expect((await get(`${v2.url}/whoami`)).body).toEqual({ instance: v2.id, version: "2.0.0" });
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const { status, body } = await get(`${caller("spread")}/spread`);
        expect(status).toBe(200);
        expect(body.version).toBe("1.0.0");
        seen.add(String(body.instance));
      }
      expect(seen.has(v2.id)).toBe(false);
      expect(seen.size).toBe(3);
    } finally {
      expect(await terminate(v2)).toBe(0);
    }
  });

  it("cuts the chain A → B → B with A's timeout: each hop sees a shorter deadline", async () => {
    const { status, body } = await get(`${caller("deadlines")}/chain?hops=1`);
    expect(status).toBe(200);
    // A got no deadline; its 800 ms timeout is the deadline B and B's own call receive.
    const callee = body.callee as { remainingMs: number; downstream: { remainingMs: number } };
    expect(body.remainingMs).toBeNull();
    expect(callee.remainingMs).toBeGreaterThan(0);
    expect(callee.remainingMs).toBeLessThanOrEqual(800);
    expect(callee.downstream.remainingMs).toBeGreaterThan(0);
    expect(callee.downstream.remainingMs).toBeLessThanOrEqual(callee.remainingMs);

    // B slows down (its leaf waits 5 s): A answers at its timeout, and the leaf is cut by the
    // deadline that travelled to it instead of running on.
    const before = await calleeStats();
    await control({ fail: false, leafDelayMs: 5_000 });
    try {
      const cut = await get(`${caller("deadlines")}/chain?hops=1`);
      if (cut.status === 504) expect(cut.body.code).toBe("FLT_TIMEOUT");
      else {
        // B's own deadline answer raced A's timer: a 502 carrying B's 504.
        expect(cut.status).toBe(502);
        expect(cut.body.cause).toMatchObject({ status: 504, service: calleeName });
      }
      expect(cut.body).toMatchObject({ service: callerName, instance: `${callerName}-deadlines` });
      await until(
        async () => (await calleeStats()).aborted > before.aborted,
        3_000,
        "B's leaf aborted by its deadline",
      );
    } finally {
      await control({ fail: false, leafDelayMs: 0 });
    }
  });

  it("applies a retried POST once: the lost first answer is replayed from B's idempotency store", async () => {
    const item = `order-${randomBytes(4).toString("hex")}`;
    const before = await calleeStats();
    // B applies the effect, then answers after 700 ms; A's attempts time out at 300 ms and retry
    // with the same idempotency key (409 in progress, then the stored answer).
    const { status, body } = await post(`${caller("effects")}/apply`, { item, lingerMs: 700 });
    expect(status).toBe(200);
    const rows = await asAdmin(calleeDatabase, async (client) =>
      client.query<{ id: string }>("SELECT id FROM effects WHERE item = $1", [item]),
    );
    expect(rows.rows.map((r) => Number(r.id))).toEqual([body.id]);
    const after = await calleeStats();
    expect(after.applied - before.applied).toBe(1);
    expect(after.applyRequests - before.applyRequests).toBeGreaterThanOrEqual(2);
    expect(after.replayed - before.replayed).toBe(1);
  });

  it("loses no request under steady load while B is restarted one instance at a time", async () => {
    let running = true;
    const failures: string[] = [];
    const served = new Set<string>();
    let answered = 0;
    const worker = async () => {
      while (running) {
        try {
          const { status, body } = await get(`${caller("spread")}/spread`);
          if (status === 200 && body.instance !== "fallback") {
            answered++;
            served.add(String(body.instance));
          } else failures.push(`${status} ${JSON.stringify(body)}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, worker));
    try {
      const olds = [...callees];
      for (const [i, old] of olds.entries()) {
        const exit = terminate(old);
        const replacement = await startCallee(`${calleeName}-r${i + 1}`);
        callees = callees.map((b) => (b === old ? replacement : b));
        await until(async () => (await passing()).includes(replacement.id), 10_000, "replacement passing");
        // A routes to the replacement before the next instance goes.
        await until(() => served.has(replacement.id), 10_000, "A calling the replacement");
        expect(await exit).toBe(0);
        expect(old.stderr()).toBe("");
      }
    } finally {
      running = false;
      await load;
    }
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(50);
    expect(await passing()).toEqual(expect.arrayContaining(callees.map((b) => b.id)));
  });

  it("opens A's breaker when B's instances fail, and the fallback value answers", async () => {
    await control({ fail: true, leafDelayMs: 0 });
    try {
      const answers: unknown[] = [];
      for (let i = 0; i < 4; i++) answers.push((await get(`${caller("guarded")}/guarded`)).body);
      // Each failure is answered by the fallback; four of them open the breaker.
      expect(answers).toEqual(Array(4).fill({ instance: "fallback", version: "0.0.0" }));
      const reached = (await calleeStats()).whoami;
      for (let i = 0; i < 10; i++) {
        const { status, body } = await get(`${caller("guarded")}/guarded`);
        expect(status).toBe(200);
        expect(body).toEqual({ instance: "fallback", version: "0.0.0" });
      }
      // Open: the fallback answered without calling B.
      expect((await calleeStats()).whoami).toBe(reached);
    } finally {
      await control({ fail: false, leafDelayMs: 0 });
    }
  });
});
