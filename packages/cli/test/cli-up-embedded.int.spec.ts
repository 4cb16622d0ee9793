import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { SystemState } from "../src/index.js";
import {
  alive,
  type CliProcess,
  childrenOf,
  groupMembers,
  refuses,
  runCli,
  startCli,
} from "./fixtures/cli-process.js";
import { freePort } from "./fixtures/free-port.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "system");

describe("flotilla up (embedded PostgreSQL)", () => {
  let dir: string | undefined;
  let up: CliProcess | undefined;

  afterAll(async () => {
    if (up !== undefined && up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill("SIGINT");
      await up.exited();
    }
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("a second up reuses the database's data and the registry's KV", async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-cli-embedded-"));
    // PostgreSQL runs as the `postgres` user when the tests run as root: it must reach its data directory.
    await chmod(dir, 0o755);
    const port = await freePort();
    await writeFile(
      join(dir, "flotilla.config.yaml"),
      [
        "name: embedded",
        `database: { port: ${port} }`,
        "registry: { port: 0 }",
        "collector: { port: 0 }",
        "services:",
        `  echo: { main: ${join(fixtures, "echo-main.ts")} }`,
      ].join("\n"),
    );
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;

    up = startCli(["up"], dir);
    await up.waitFor(/ready in \d+\.\d s/, 90_000);
    expect(up.output()).toContain(`embedded PostgreSQL on 127.0.0.1:${port} (new data`);
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('first run')");
    await client.end();
    expect((await runCli(["kv", "put", "kept/key", "v1"], dir)).code).toBe(0);
    up.child.kill("SIGINT");
    expect(await up.exited()).toBe(0);
    expect(up.output()).toMatch(/✓ database {3}stopped/);
    expect(await refuses(port)).toBe(true);

    up = startCli(["up"], dir);
    await up.waitFor(/ready in \d+\.\d s/, 60_000);
    expect(up.output()).toContain(`embedded PostgreSQL on 127.0.0.1:${port} (reused data`);
    const again = new pg.Client({ connectionString: adminUrl });
    await again.connect();
    const { rows } = await again.query<{ v: string }>("SELECT v FROM kept");
    await again.end();
    expect(rows).toEqual([{ v: "first run" }]);
    const { output } = await runCli(["kv", "get", "kept/key"], dir);
    expect(output.trim()).toBe("v1");
    up.child.kill("SIGINT");
    expect(await up.exited()).toBe(0);
    expect(await refuses(port)).toBe(true);
  }, 150_000);
});

describe("flotilla up (embedded PostgreSQL) and a Ctrl-C in its terminal", () => {
  let dir: string | undefined;
  let up: CliProcess | undefined;
  let postmaster: number | undefined;

  afterAll(async () => {
    if (up?.child.pid !== undefined && up.child.exitCode === null && up.child.signalCode === null) {
      process.kill(-up.child.pid, "SIGKILL");
      await up.exited();
    }
    if (postmaster !== undefined && alive(postmaster)) process.kill(postmaster, "SIGKILL");
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("SIGINT to the whole process group: the services drain, the database stops last, nothing is left", async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-cli-ctrl-c-"));
    await chmod(dir, 0o755);
    const port = await freePort();
    await writeFile(
      join(dir, "flotilla.config.yaml"),
      [
        "name: ctrl-c",
        `database: { port: ${port} }`,
        "registry: { port: 0 }",
        "collector: { port: 0 }",
        "services:",
        `  poller: { main: ${join(fixtures, "db-poller-main.ts")}, instances: 2 }`,
      ].join("\n"),
    );

    up = startCli(["up"], dir, { detached: true });
    const cli = up.child.pid as number;
    await up.waitFor(/ready in \d+\.\d s/, 90_000);
    const pidFile = await readFile(join(dir, ".flotilla", "postgres", "postmaster.pid"), "utf8");
    postmaster = Number(pidFile.split("\n")[0]);
    expect(alive(postmaster)).toBe(true);
    const server = [postmaster, ...childrenOf(postmaster)];
    expect(server.length).toBeGreaterThan(1);
    // The instances use the database while it runs (so their silence below means something).
    const polled = await runCli(["call", "poller", "GET", "/queries"], dir);
    expect(polled.code, polled.output).toBe(0);
    expect(Number(/"queries":\s*(\d+)/.exec(polled.output)?.[1])).toBeGreaterThan(0);
    const state = JSON.parse(await readFile(join(dir, ".flotilla", "state.json"), "utf8")) as SystemState;
    const instances = Object.values(state.services).flat();
    const pids = instances.map((i) => i.pid as number);
    const ports = [
      port,
      Number(new URL(state.urls.registry).port),
      Number(new URL(state.urls.collector).port),
      ...instances.map((i) => i.port as number),
    ];
    expect(pids).toHaveLength(2);
    expect(ports).toHaveLength(5);

    const before = up.output().length;
    process.kill(-cli, "SIGINT");
    expect(await up.exited()).toBe(0);
    const shutdown = up.output().slice(before);
    expect(shutdown).toMatch(/SIGINT received/);
    expect(shutdown).toMatch(/✓ services {3}stopped/);
    expect(shutdown).toMatch(/✓ database {3}stopped/);
    expect(shutdown).not.toMatch(/WARN|ERROR|database query failed/);
    expect(childrenOf(cli)).toEqual([]);
    expect(groupMembers(cli)).toEqual([]);
    for (const pid of [...pids, ...server]) expect(alive(pid), `pid ${pid}`).toBe(false);
    for (const p of ports) expect(await refuses(p), `port ${p}`).toBe(true);
    expect(existsSync(join(dir, ".flotilla", "state.json"))).toBe(false);
  }, 150_000);
});
