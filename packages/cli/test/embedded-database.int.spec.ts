import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFlotillaError } from "@flotilla/resilience";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { type EmbeddedDatabase, startEmbeddedDatabase } from "../src/up/embedded-database.js";
import { alive, childrenOf, eventually, refuses } from "./fixtures/cli-process.js";
import { freePort } from "./fixtures/free-port.js";

describe("the embedded PostgreSQL when it does not stop as asked", () => {
  let dir: string | undefined;
  let db: EmbeddedDatabase | undefined;

  afterEach(async () => {
    if (db !== undefined && alive(db.pid)) process.kill(db.pid, "SIGKILL");
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    db = undefined;
    dir = undefined;
  });

  const start = async (options: { onUnexpectedExit?: (how: string) => void; stopTimeoutMs?: number }) => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-embedded-db-"));
    // PostgreSQL runs as the `postgres` user when the tests run as root: it must reach its data directory.
    await chmod(dir, 0o755);
    const port = await freePort();
    const log: string[] = [];
    db = await startEmbeddedDatabase({
      dataDir: join(dir, "postgres"),
      port,
      onLog: (line) => log.push(line),
      ...options,
    });
    const client = new pg.Client({ connectionString: db.adminUrl });
    await client.connect();
    await client.end();
    return { db, port, log };
  };

  it("a server that cannot start says why, with PostgreSQL's own last lines", async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-embedded-db-"));
    await chmod(dir, 0o755);
    const taken = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      const failed = await startEmbeddedDatabase({
        dataDir: join(dir, "postgres"),
        port,
        onLog: () => {},
      }).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(isFlotillaError(failed) && failed.code).toBe("FLT_CLI_START_FAILED");
      expect(failed?.message).toContain(`did not start on port ${port}`);
      expect((failed?.cause as Error | undefined)?.message).toMatch(
        /postgres exited \(code 1\) before accepting connections:[\s\S]*could not create any TCP\/IP sockets/,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 60_000);

  it("a server that dies on its own is reported, and stop() rejects at once instead of waiting", async () => {
    const unexpected = Promise.withResolvers<string>();
    const { db, port } = await start({ onUnexpectedExit: unexpected.resolve });
    const processes = childrenOf(db.pid);
    expect(processes.length).toBeGreaterThan(0);
    process.kill(db.pid, "SIGKILL");
    expect(await unexpected.promise).toBe("signal SIGKILL");
    const stopped = await db.stop().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isFlotillaError(stopped) && stopped.code).toBe("FLT_CLI_STOP_FAILED");
    expect((stopped as Error).message).toMatch(/had already exited on its own \(signal SIGKILL\)/);
    await eventually(() => !processes.some(alive), "the server's other processes to end");
    expect(await refuses(port)).toBe(true);
  }, 60_000);

  it("a server that does not finish its fast shutdown in time is killed, and its processes end", async () => {
    const unexpected: string[] = [];
    const { db, port } = await start({ onUnexpectedExit: (how) => unexpected.push(how), stopTimeoutMs: 500 });
    const processes = childrenOf(db.pid);
    expect(processes.length).toBeGreaterThan(0);
    // A stopped postmaster cannot act on SIGINT.
    process.kill(db.pid, "SIGSTOP");
    await expect(db.stop()).rejects.toThrow(
      /did not stop within 0\.5 s of a fast shutdown \(SIGINT\); killed/,
    );
    expect(alive(db.pid)).toBe(false);
    await eventually(() => !processes.some(alive), "the server's other processes to end");
    expect(await refuses(port)).toBe(true);
    expect(unexpected).toEqual([]);
  }, 60_000);
});
