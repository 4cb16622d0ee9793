import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SystemState } from "../src/index.js";
import { alive, type CliProcess, childrenOf, refuses, runCli, startCli } from "./fixtures/cli-process.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "system");

describe("flotilla up (machine PostgreSQL)", () => {
  let dir: string;
  let up: CliProcess;
  const seenPids = new Set<number>();
  const seenPorts = new Set<number>();

  const state = async (): Promise<SystemState> =>
    JSON.parse(await readFile(join(dir, ".flotilla", "state.json"), "utf8")) as SystemState;
  const remember = (s: SystemState) => {
    for (const url of Object.values(s.urls)) {
      const port = Number(new URL(url).port);
      if (url.startsWith("http") && port > 0) seenPorts.add(port);
    }
    for (const instances of Object.values(s.services)) {
      for (const i of instances) {
        if (i.pid !== undefined) seenPids.add(i.pid);
        if (i.port !== undefined) seenPorts.add(i.port);
      }
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-cli-"));
    await writeFile(
      join(dir, "flotilla.config.yaml"),
      [
        "name: fixture",
        'database: { url: "postgres://postgres@127.0.0.1:5432/postgres" }',
        "registry: { port: 0 }",
        "collector: { port: 0 }",
        `gateway: { port: 0, config: ${join(fixtures, "gateway.yaml")} }`,
        "services:",
        `  hello: { main: ${join(fixtures, "hello-main.ts")}, instances: 2, env: { GREETING: hi } }`,
        `  echo: { main: ${join(fixtures, "echo-main.ts")} }`,
      ].join("\n"),
    );
    up = startCli(["up"], dir);
    await up.waitFor(/ready in \d+\.\d s/);
  }, 60_000);

  afterAll(async () => {
    if (up !== undefined && up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill("SIGINT");
      await up.exited();
    }
    for (const pid of seenPids) if (alive(pid)) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  it("prints each component and the URLs, and writes state.json", async () => {
    const out = up.output();
    for (const name of ["database", "messaging", "registry", "collector", "gateway", "services"]) {
      expect(out).toMatch(new RegExp(`✓ ${name}`));
    }
    expect(out).toMatch(/gateway {4}http:\/\/127\.0\.0\.1:\d+/);
    const s = await state();
    expect(s.pid).toBe(up.child.pid);
    expect(s.services.hello?.map((i) => i.instanceId)).toEqual(["hello-1", "hello-2"]);
    remember(s);
  });

  it("status lists every instance as passing", async () => {
    const { code, output } = await runCli(["status"], dir);
    expect(code).toBe(0);
    expect(output).toMatch(/hello-1\s+\d+\s+\d+\s+running\s+passing/);
    expect(output).toMatch(/hello-2\s+\d+\s+\d+\s+running\s+passing/);
    expect(output).toMatch(/echo-1\s+\d+\s+\d+\s+running\s+passing/);
  });

  it("routes a request through the gateway to a hello instance", async () => {
    const { urls } = await state();
    const res = await fetch(`${urls.gateway}/api/hello`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { message: string; instance: string };
    expect(body.message).toBe("hi");
    expect(["hello-1", "hello-2"]).toContain(body.instance);
  });

  it("call reaches a service through discovery", async () => {
    const { code, output } = await runCli(["call", "echo", "POST", "/echo", '{"text":"ahoy"}'], dir);
    expect(code).toBe(0);
    expect(output).toContain('"text": "ahoy"');
    expect(output).toContain("→ echo-1");
  });

  it("kv put then get returns the value", async () => {
    expect((await runCli(["kv", "put", "config/limit", "17"], dir)).code).toBe(0);
    const { code, output } = await runCli(["kv", "get", "config/limit"], dir);
    expect(code).toBe(0);
    expect(output.trim()).toBe("17");
  });

  it("restarts an instance killed with SIGKILL", async () => {
    const before = (await state()).services.echo?.[0];
    expect(before?.pid).toBeTypeOf("number");
    process.kill(before?.pid as number, "SIGKILL");
    await up.waitFor(/echo-1\s+│ ⟳ exited \(signal SIGKILL\); restarting in 0\.5 s \(restart 1\)/, 10_000);
    await up.waitFor(/⟳ exited \(signal SIGKILL\)[\s\S]*echo-1\s+│ INFO\s+service started/, 20_000);
    const after = (await state()).services.echo?.[0];
    expect(after?.restarts).toBe(1);
    expect(after?.pid).not.toBe(before?.pid);
    remember(await state());
    // The registry lists the new process as passing after its first health check, not at once.
    let answer = await runCli(["call", "echo", "POST", "/echo", '{"text":"again"}'], dir);
    for (let tries = 1; answer.code !== 0 && tries < 20; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      answer = await runCli(["call", "echo", "POST", "/echo", '{"text":"again"}'], dir);
    }
    const { code, output } = answer;
    expect(code, output).toBe(0);
    expect(output).toContain('"text": "again"');
  });

  it("stops everything on SIGINT: exit 0, no child process, no open port, no state.json", async () => {
    remember(await state());
    const pid = up.child.pid as number;
    up.child.kill("SIGINT");
    expect(await up.exited()).toBe(0);
    expect(up.output()).toMatch(
      /✓ services {3}stopped[\s\S]*✓ gateway {4}stopped[\s\S]*✓ registry {3}stopped/,
    );
    expect(childrenOf(pid)).toEqual([]);
    for (const child of seenPids) expect(alive(child), `instance pid ${child}`).toBe(false);
    expect(seenPorts.size).toBeGreaterThanOrEqual(6);
    for (const port of seenPorts) expect(await refuses(port), `port ${port}`).toBe(true);
    expect(existsSync(join(dir, ".flotilla", "state.json"))).toBe(false);
    const { code, output } = await runCli(["status"], dir);
    expect(code).toBe(1);
    expect(output).toContain("nothing is running (no ");
  });
});
