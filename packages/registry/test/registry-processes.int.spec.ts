// The real-process scenario: a registry process, three instance processes that register
// themselves, and a client in this process sending steady traffic through the discovery cache,
// with retries that avoid the instance they already tried. One instance is SIGKILLed, one is
// stopped with SIGTERM, then the registry itself is stopped for 10 s and started again.
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discovery } from "../src/client/discovery.js";
import { discoveryCache } from "../src/client/discovery-cache.js";
import { registryClient } from "../src/client/registry-client.js";
import type { ServiceInstance } from "../src/instance.js";
import { buildPackage, ChildProcesses, exited, waitForOutput } from "../src/testing/child-processes.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const registryMain = join(here, "..", "dist", "server", "registry-main.js");
const instanceFixture = join(here, "fixtures", "registry-instance.ts");
const checkIntervalMs = 1000;

const children = new ChildProcesses();

async function startRegistry(port: number, dataDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = children.spawn(
    process.execPath,
    [registryMain, "--port", String(port), "--data-dir", dataDir],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const match = await waitForOutput(child, /registry listening on http:\/\/127\.0\.0\.1:(\d+)/);
  return { child, port: Number(match[1]) };
}

async function startInstance(registryUrl: string, id: string): Promise<ChildProcess> {
  const child = children.spawn(process.execPath, [instanceFixture], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      REGISTRY_URL: registryUrl,
      INSTANCE_ID: id,
      CHECK_INTERVAL_MS: String(checkIntervalMs),
    },
  });
  await waitForOutput(child, /\{"port":\d+\}/);
  return child;
}

/** Waits until `condition` holds, checking after every change of the cache and every 50 ms. */
async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("registry with real processes", () => {
  let dataDir: string;
  const agent = new Agent({ keepAliveTimeout: 2_000, connect: { timeout: 1_000 } });

  beforeAll(async () => {
    buildPackage(join(root, "packages", "registry"));
    dataDir = await mkdtemp(join(tmpdir(), "flotilla-registry-processes-"));
  }, 120_000);

  afterAll(async () => {
    await children.killAll();
    await agent.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("routes around a killed instance, drains a stopped one and rides out a registry outage without a failed request", async () => {
    const registry = await startRegistry(0, dataDir);
    const registryUrl = `http://127.0.0.1:${registry.port}`;
    const instances = new Map<string, ChildProcess>();
    for (const id of ["echo-a", "echo-b", "echo-c"]) instances.set(id, await startInstance(registryUrl, id));

    const client = registryClient({ url: registryUrl, timeoutMs: 2_000 });
    const cache = discoveryCache({ client, staleAfterMs: 3_000, waitMs: 5_000 });
    const discover = discovery({ cache });
    const ids = () =>
      cache
        .instances("echo")
        .map((i) => i.id)
        .sort();
    cache.instances("echo");
    await until(() => ids().length === 3, 10_000, "three instances in the cache");

    const lastPicked = new Map<string, number>();
    const served = new Map<string, number>();
    const failures: string[] = [];
    let requests = 0;
    /** Requests that succeeded only on a second or third instance. */
    let retried = 0;
    let running = true;

    /** One request, tried on up to three different instances. */
    async function call(): Promise<void> {
      const tried = new Set<string>();
      let lastError = "";
      for (let attempt = 1; attempt <= 3; attempt++) {
        const instance: ServiceInstance | undefined = discover.pick("echo", { exclude: tried });
        if (instance === undefined) {
          lastError = "no instance";
          continue;
        }
        tried.add(instance.id);
        lastPicked.set(instance.id, Date.now());
        const started = performance.now();
        try {
          const res = await request(`http://${instance.address}:${instance.port}/work`, {
            dispatcher: agent,
            headersTimeout: 2_000,
            bodyTimeout: 2_000,
          });
          const body = (await res.body.json()) as { id: string };
          discover.report("echo", instance, {
            status: res.statusCode,
            durationMs: performance.now() - started,
          });
          if (res.statusCode === 200) {
            served.set(body.id, (served.get(body.id) ?? 0) + 1);
            if (attempt > 1) retried++;
            return;
          }
          lastError = `HTTP ${res.statusCode}`;
        } catch (error) {
          discover.report("echo", instance, { error, durationMs: performance.now() - started });
          lastError = (error as Error).message;
        }
      }
      failures.push(lastError);
    }

    const workers = Array.from({ length: 4 }, async () => {
      while (running) {
        requests++;
        await call();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });

    try {
      await until(() => requests > 200, 10_000, "traffic to flow");
      expect(new Set(served.keys())).toEqual(new Set(["echo-a", "echo-b", "echo-c"]));

      // SIGKILL: no deregistration; the registry's readiness check or the client's outlier
      // detection must take it out of rotation within the check interval + 1 s.
      const killedAt = Date.now();
      instances.get("echo-a")!.kill("SIGKILL");
      await exited(instances.get("echo-a")!);
      await until(() => !ids().includes("echo-a"), checkIntervalMs + 5_000, "echo-a to leave the cache");
      const settled = Date.now();
      await until(() => Date.now() - settled > 1_000, 2_000, "a second of traffic after the kill");
      expect(lastPicked.get("echo-a")! - killedAt).toBeLessThanOrEqual(checkIntervalMs + 1_000);
      // The kill did hit requests (refused or reset); each was saved by a retry on another instance.
      expect(retried).toBeGreaterThan(0);
      expect(failures).toEqual([]);

      // SIGTERM: the instance deregisters, keeps serving while caches catch up, then exits. A
      // request picked for it in that window is answered, so a graceful stop costs no retry (how
      // many requests the window holds depends on how fast the deregistration reaches the cache).
      const retriedBeforeStop = retried;
      instances.get("echo-b")!.kill("SIGTERM");
      expect(await exited(instances.get("echo-b")!)).toBe(0);
      expect(ids()).toEqual(["echo-c"]);
      expect(retried).toBe(retriedBeforeStop);
      expect(failures).toEqual([]);

      // The registry goes away for 10 s: the cache keeps serving its last set.
      registry.child.kill("SIGTERM");
      expect(await exited(registry.child)).toBe(0);
      const outageStart = Date.now();
      const servedByC = served.get("echo-c") ?? 0;
      await until(() => cache.staleness("echo").stale, 10_000, "the cache to report staleness");
      await until(() => Date.now() - outageStart >= 10_000, 11_000, "ten seconds of outage");
      expect(ids()).toEqual(["echo-c"]);
      expect(served.get("echo-c")!).toBeGreaterThan(servedByC + 100);
      expect(failures).toEqual([]);

      // Back on the same port and data: the cache resynchronises and sees a new instance.
      const restarted = await startRegistry(registry.port, dataDir);
      instances.set("echo-d", await startInstance(registryUrl, "echo-d"));
      await until(() => ids().includes("echo-d"), 15_000, "echo-d to appear after the restart");
      expect(ids()).toEqual(["echo-c", "echo-d"]);
      expect(cache.staleness("echo").stale).toBe(false);
      const servedByD = served.get("echo-d") ?? 0;
      await until(() => (served.get("echo-d") ?? 0) > servedByD + 20, 5_000, "traffic to reach echo-d");
      expect(failures).toEqual([]);

      running = false;
      await Promise.all(workers);
      await cache.close();
      discover.close();
      await client.close();
      restarted.child.kill("SIGTERM");
      expect(await exited(restarted.child)).toBe(0);
    } finally {
      running = false;
      await Promise.all(workers);
    }
  }, 90_000);
});
