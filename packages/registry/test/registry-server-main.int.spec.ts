import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { call, registration } from "./registry-server-harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const main = join(here, "..", "src", "server", "registry-main.ts");

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly lines: Record<string, unknown>[];
}

/** Runs registry-main.ts in its own Node process and waits for its "listening" line. */
async function startMain(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [main, ...args], {
    cwd: root,
    env: { ...process.env, FLOTILLA_LOG_PRETTY: "0", FLOTILLA_REGISTRY_PORT: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`registry-main exited early with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (typeof parsed.url === "string" && typeof parsed.port === "number") resolve(parsed.url);
    });
  });
  return { child, url, lines };
}

async function stop(started: Started): Promise<number | null> {
  const exited = once(started.child, "exit");
  started.child.kill("SIGTERM");
  const [code] = await exited;
  return code as number | null;
}

describe("registry-main", () => {
  it("serves from a data directory, stops on SIGTERM with 0, and keeps its state across restarts", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "flotilla-registry-main-"));
    dirs.push(dataDir);
    const first = await startMain(["--port", "0", "--data-dir", dataDir]);
    expect(first.lines.some((l) => l.store === "embedded" && l.dataDir === dataDir)).toBe(true);
    const reg = await call(
      first.url,
      "POST",
      "/v1/instances",
      registration("durable", "d-1", { ttlMs: "1h" }),
    );
    expect(reg.status).toBe(200);
    expect((await call(first.url, "PUT", "/v1/kv/settings/mode", "blue")).status).toBe(200);
    expect(await stop(first)).toBe(0);
    expect(first.lines.some((l) => l.msg === "registry stopped")).toBe(true);

    const second = await startMain(["--port", "0", "--data-dir", dataDir]);
    const list = await call(second.url, "GET", "/v1/services/durable");
    expect(list.json.instances.map((i: { id: string }) => i.id)).toEqual(["d-1"]);
    expect((await call(second.url, "PUT", `/v1/leases/${reg.json.lease.id}/renew`)).status).toBe(200);
    expect((await call(second.url, "GET", "/v1/kv/settings/mode")).json.value).toBe("blue");
    expect((await call(second.url, "GET", "/health")).json).toMatchObject({
      status: "pass",
      store: "embedded",
    });
    expect(await stop(second)).toBe(0);
  });

  it("exits 2 naming a bad flag", async () => {
    const child = spawn(process.execPath, [main, "--port", "nope"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
    expect(stderr).toContain('--port: expected a port from 0 to 65535, got "nope"');
  });
});
