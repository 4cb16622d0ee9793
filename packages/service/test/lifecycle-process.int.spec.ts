// The lifecycle with a real process: a service built with `tsc -b` and started by the pinned node
// registers itself; SIGTERM while a slow request is in flight answers that request, deregisters
// and exits 0.
import type { ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPackage, ChildProcesses, exited } from "@flotilla/registry/testing";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRegistry, type TestRegistry, until } from "./fixtures/test-registry.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const fixture = join(here, "fixtures", "service-process.ts");
const children = new ChildProcesses();

/** Resolves with the first JSON log line of `child` whose `msg` is `message`; rejects if it exits first. */
function waitForLog(child: ChildProcess, message: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.msg === message) {
            cleanup();
            resolve(parsed);
            return;
          }
        } catch {
          // a line still being written
        }
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before logging "${message}":\n${buffered}`));
    };
    const cleanup = () => {
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
}

describe("a service process", () => {
  let registry: TestRegistry;
  const agent = new Agent({ keepAliveTimeout: 1_000 });

  beforeAll(async () => {
    buildPackage(join(root, "packages", "service"));
    registry = await startTestRegistry();
  }, 120_000);

  afterAll(async () => {
    await children.killAll();
    await agent.close();
    await registry?.stop();
  });

  it("registers, drains a request in flight on SIGTERM, deregisters and exits 0", async () => {
    const child = children.spawn(process.execPath, [fixture], {
      cwd: here,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        FLOTILLA_REGISTRY_URL: registry.url,
        FLOTILLA_REGISTRY_CHECK_INTERVAL: "200ms",
        FLOTILLA_INSTANCE_ID: "echo-process-1",
        FLOTILLA_TELEMETRY_ENABLED: "false",
        FLOTILLA_SHUTDOWN_LINGER: "300ms",
        FLOTILLA_SHUTDOWN_DRAIN_TIMEOUT: "10s",
        FLOTILLA_LOG_PRETTY: "0",
      },
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const started = await waitForLog(child, "service started");
    const url = String(started.url);
    expect(started).toMatchObject({ instanceId: "echo-process-1", version: "1.4.0", registered: true });

    const { instances } = await registry.client.instances("echo-process", { status: "any" });
    expect(instances.map((i) => [i.id, i.version, i.port])).toEqual([
      ["echo-process-1", "1.4.0", Number(new URL(url).port)],
    ]);
    const echo = await request(`${url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "hi" }),
      dispatcher: agent,
    });
    expect(echo.statusCode).toBe(200);
    expect(await echo.body.json()).toEqual({ text: "hi", pid: child.pid });

    const inHandler = waitForLog(child, "slow request started");
    const slow = request(`${url}/slow?ms=800`, { dispatcher: agent });
    await inHandler;
    const stopping = waitForLog(child, "stopping: readiness 503, deregistering");
    child.kill("SIGTERM");
    await stopping;
    await until(
      async () => (await registry.client.instances("echo-process", { status: "any" })).instances.length === 0,
      5_000,
      "deregistration",
    );
    const answered = await slow;
    expect(answered.statusCode).toBe(200);
    expect(await answered.body.json()).toEqual({ waited: 800 });
    expect(await exited(child)).toBe(0);
    expect(stderr).toBe("");
  });
});
