import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type CliProcess, refuses, runCli, startCli } from "./fixtures/cli-process.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "system");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

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
