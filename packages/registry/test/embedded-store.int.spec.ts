import { appendFile, mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { isRegistryError } from "../src/registry-error.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import type { EmbeddedStoreOptions } from "../src/store/embedded-store-options.js";
import { EventRecorder, storeContract } from "./store-contract.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-embedded-store-"));
  dirs.push(dir);
  return dir;
}

const contractClock = new FakeClock();
storeContract("embedded (durable)", {
  create: async () => embeddedStore({ clock: contractClock, dataDir: await tempDir() }),
  clock: contractClock,
  deletesCarryPrevious: true,
});

describe("EmbeddedStore on disk", () => {
  const open_: EmbeddedStore[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const store of open_.splice(0)) await store.close();
  });

  async function openStore(dataDir: string, options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const store = await embeddedStore({ dataDir, ...options });
    open_.push(store);
    return store;
  }

  async function reopen(store: EmbeddedStore, options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    await store.close();
    return openStore(store.options.dataDir!, options);
  }

  describe("restart", () => {
    it("keeps keys, leases and their attachments, and continues the index", async () => {
      const clock = new FakeClock();
      const dir = await tempDir();
      let store = await openStore(dir, { clock });
      const lease = await store.grantLease(10_000);
      await store.put("a", "1");
      await store.put("b", "2", { lease: lease.id });
      await store.put("a", "3");
      await store.put("gone", "x");
      await store.delete("gone");
      const revoked = await store.grantLease(10_000);
      await store.put("r", "x", { lease: revoked.id });
      await store.revokeLease(revoked.id);
      const before = await store.list("");
      const index = await store.currentIndex();

      store = await reopen(store, { clock });
      expect(await store.list("")).toEqual(before);
      expect(await store.currentIndex()).toBe(index);
      expect(await store.keepAlive(lease.id)).toBe(true);
      expect(await store.keepAlive(revoked.id)).toBe(false);
      expect((await store.put("c", "4")).index).toBe(index + 1);
      await store.revokeLease(lease.id);
      expect(await store.get("b")).toBeUndefined();
    });

    it("gives every lease a full TTL again from the restart", async () => {
      const clock = new FakeClock();
      const dir = await tempDir();
      let store = await openStore(dir, { clock, sweepInterval: 100 });
      const lease = await store.grantLease(1_000);
      await store.put("k", "v", { lease: lease.id });
      await clock.advance(900);
      store = await reopen(store, { clock, sweepInterval: 100 });
      await clock.advance(900);
      expect(await store.get("k")).toBeDefined();
      const events = new EventRecorder(10_000);
      events.start(store, "", await store.currentIndex());
      await clock.advance(200);
      await events.waitFor((es) => es.some((e) => e.type === "delete" && e.key === "k"));
      expect(await store.keepAlive(lease.id)).toBe(false);
    });

    it("keeps an expiry across a restart", async () => {
      const clock = new FakeClock();
      const dir = await tempDir();
      let store = await openStore(dir, { clock });
      const lease = await store.grantLease(500);
      await store.put("k", "v", { lease: lease.id });
      const events = new EventRecorder(10_000);
      events.start(store, "", await store.currentIndex());
      await clock.advance(1_000);
      await events.waitFor((es) => es.length === 1);
      store = await reopen(store, { clock });
      expect(await store.get("k")).toBeUndefined();
      expect(await store.keepAlive(lease.id)).toBe(false);
      expect(store.stats().leases).toBe(0);
    });

    it("replays the log's events to a watch that resumes from before the restart", async () => {
      const dir = await tempDir();
      let store = await openStore(dir);
      await store.put("a", "1");
      const b = await store.put("b", "1");
      const c = await store.delete("a");
      store = await reopen(store);
      const events = new EventRecorder(10_000);
      events.start(store, "", b.index - 1);
      await events.waitFor((es) => es.length >= 2);
      expect(events.events.map((e) => [e.type, e.key, e.index])).toEqual([
        ["put", "b", b.index],
        ["delete", "a", c.index],
      ]);
      expect(events.resets).toEqual([]);
    });

    it("writes everything asked for before close", async () => {
      const dir = await tempDir();
      let store = await openStore(dir);
      const writes = Array.from({ length: 100 }, (_, n) => store.put(`k${n}`, `${n}`));
      await store.close();
      expect((await Promise.all(writes)).every((w) => w.ok)).toBe(true);
      store = await openStore(dir);
      expect((await store.list("")).entries).toHaveLength(100);
    });
  });

  describe("torn and corrupt logs", () => {
    async function storeWithLog(): Promise<{ dir: string; log: string; lines: string[] }> {
      const dir = await tempDir();
      const store = await openStore(dir);
      for (let n = 1; n <= 5; n++) await store.put(`k${n}`, `v${n}`);
      await store.close();
      const log = join(dir, "store.log");
      return { dir, log, lines: (await readFile(log, "utf8")).split("\n").slice(0, -1) };
    }

    it("drops a final line cut short by a crash, and appends cleanly after it", async () => {
      const { dir, log } = await storeWithLog();
      await appendFile(log, '{"s":6,"op":"put","i":6,"k":"torn","v":"nev');
      let store = await openStore(dir);
      expect((await store.list("")).entries.map((e) => e.key)).toEqual(["k1", "k2", "k3", "k4", "k5"]);
      expect((await store.put("k6", "v6")).index).toBe(6);
      store = await reopen(store);
      expect((await store.get("k6"))?.value).toBe("v6");
      expect(await store.get("torn")).toBeUndefined();
    });

    it("drops a final line of garbage (zeroes after a crash)", async () => {
      const { dir, log } = await storeWithLog();
      const size = (await stat(log)).size;
      await appendFile(log, Buffer.alloc(100));
      const store = await openStore(dir);
      expect(await store.currentIndex()).toBe(5);
      expect((await stat(log)).size).toBe(size);
    });

    it("refuses to open when a line in the middle does not parse, naming file and line", async () => {
      const { dir, log, lines } = await storeWithLog();
      lines[2] = lines[2]!.slice(0, 10);
      await writeFile(log, `${lines.join("\n")}\n`);
      const error = await embeddedStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_DATA_CORRUPT")).toBe(true);
      expect(error).toMatchObject({ file: log, line: 3 });
      expect((error as Error).message).toContain(`${log}:3`);
    });

    it("refuses a well-formed line that does not follow from the state before it", async () => {
      const { dir, log, lines } = await storeWithLog();
      lines[1] = lines[1]!.replace('"i":2', '"i":7');
      await writeFile(log, `${lines.join("\n")}\n`);
      const error = await embeddedStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_DATA_CORRUPT")).toBe(true);
      expect(error).toMatchObject({ file: log, line: 2 });
    });

    it("refuses a damaged snapshot, naming it", async () => {
      const dir = await tempDir();
      await writeFile(
        join(dir, "snapshot.json"),
        '{"version":1,"seq":1,"index":1,"entries":[["k"]],"leases":[]}',
      );
      const error = await embeddedStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_DATA_CORRUPT")).toBe(true);
      expect(error).toMatchObject({ file: join(dir, "snapshot.json") });
    });
  });

  describe("snapshots", () => {
    it("compacts the log into a snapshot past snapshotEvery records, and restarts from both", async () => {
      const clock = new FakeClock();
      const dir = await tempDir();
      let store = await openStore(dir, { snapshotEvery: 10, clock });
      const lease = await store.grantLease(10_000);
      for (let n = 0; n < 25; n++)
        await store.put(`k${n % 8}`, `v${n}`, n % 3 === 0 ? { lease: lease.id } : {});
      await store.delete("k7");
      const stats = store.stats();
      expect(stats.snapshots).toBeGreaterThanOrEqual(2);
      expect(stats.logRecords).toBeLessThanOrEqual(10);
      const snapshot = JSON.parse(await readFile(join(dir, "snapshot.json"), "utf8")) as { index: number };
      expect(snapshot.index).toBeGreaterThan(10);
      const before = await store.list("");
      store = await reopen(store, { snapshotEvery: 10, clock });
      expect(await store.list("")).toEqual(before);
      expect(await store.currentIndex()).toBe(26);
      expect(await store.keepAlive(lease.id)).toBe(true);
      expect((await store.put("new", "v")).index).toBe(27);
      await store.revokeLease(lease.id);
      expect((await store.list("")).entries.every((e) => e.lease === undefined)).toBe(true);
    });

    it("also snapshots once the log passes snapshotBytes", async () => {
      const dir = await tempDir();
      let store = await openStore(dir, { snapshotBytes: 100_000 });
      for (let n = 0; n < 5; n++) await store.put(`k${n}`, "x".repeat(30_000));
      expect(store.stats()).toMatchObject({ snapshots: 1 });
      expect(store.stats().logBytes).toBeLessThan(100_000);
      store = await reopen(store);
      expect((await store.list("")).entries).toHaveLength(5);
    });

    it("skips log records the snapshot already holds (a crash between snapshot and truncation)", async () => {
      const dir = await tempDir();
      let store = await openStore(dir);
      for (let n = 0; n < 5; n++) await store.put(`k${n}`, `${n}`);
      await store.close();
      const oldLog = await readFile(join(dir, "store.log"));
      store = await openStore(dir, { snapshotEvery: 5 });
      await store.put("k5", "5");
      // The snapshot follows k5's batch; k6's batch is written after it.
      await store.put("k6", "6");
      expect(store.stats()).toMatchObject({ snapshots: 1, logRecords: 1 });
      const before = await store.list("");
      await store.close();
      const newLog = await readFile(join(dir, "store.log"));
      await writeFile(join(dir, "store.log"), Buffer.concat([oldLog, newLog]));
      store = await openStore(dir);
      expect(await store.list("")).toEqual(before);
    });
  });

  describe("group commit and sync modes", () => {
    it("writes 1,000 concurrent puts with one batch, and all of them survive a restart", async () => {
      const dir = await tempDir();
      let store = await openStore(dir);
      const results = await Promise.all(Array.from({ length: 1_000 }, (_, n) => store.put(`k${n}`, `${n}`)));
      expect(results.every((r) => r.ok)).toBe(true);
      expect(store.stats().logWrites).toBe(1);
      store = await reopen(store);
      const { entries } = await store.list("");
      expect(entries).toHaveLength(1_000);
      expect(await store.currentIndex()).toBe(1_000);
    });

    it("checks cas against earlier writes of the same batch", async () => {
      const dir = await tempDir();
      const store = await openStore(dir);
      const [first, second, third] = await Promise.all([
        store.put("k", "a", { cas: 0 }),
        store.put("k", "b", { cas: 0 }),
        store.put("k", "c", { cas: 1 }),
      ]);
      expect(first).toEqual({ ok: true, index: 1 });
      expect(second).toMatchObject({ ok: false, current: { value: "a", modifyIndex: 1 } });
      expect(third).toEqual({ ok: true, index: 2 });
      expect(store.stats().logWrites).toBe(1);
    });

    it("revokes in one batch the keys attached earlier in the same batch", async () => {
      const dir = await tempDir();
      let store = await openStore(dir);
      const lease = await store.grantLease(10_000);
      const [put, revoked, late] = await Promise.allSettled([
        store.put("k", "v", { lease: lease.id }),
        store.revokeLease(lease.id),
        store.put("k2", "v", { lease: lease.id }),
      ]);
      expect(put).toMatchObject({ status: "fulfilled", value: { ok: true } });
      expect(revoked).toMatchObject({ status: "fulfilled", value: true });
      expect(late.status).toBe("rejected");
      expect(await store.get("k")).toBeUndefined();
      store = await reopen(store);
      expect(await store.list("")).toMatchObject({ entries: [], index: 2 });
    });

    it("with sync: always, writes and syncs each put on its own", async () => {
      const store = await openStore(await tempDir(), { sync: "always" });
      await Promise.all(Array.from({ length: 10 }, (_, n) => store.put(`k${n}`, "v")));
      expect(store.stats().logWrites).toBe(10);
    });

    it("with sync: never, still writes the log", async () => {
      const dir = await tempDir();
      let store = await openStore(dir, { sync: "never" });
      const datasync = vi.spyOn(await fileHandlePrototype(dir), "datasync");
      await store.put("k", "v");
      expect(datasync).not.toHaveBeenCalled();
      store = await reopen(store);
      expect((await store.get("k"))?.value).toBe("v");
    });
  });

  describe("keepAlive", () => {
    it("never touches the log file", async () => {
      const dir = await tempDir();
      const store = await openStore(dir);
      const lease = await store.grantLease(60_000);
      await store.put("k", "v", { lease: lease.id });
      const log = join(dir, "store.log");
      const before = await stat(log);
      const write = vi.spyOn(await fileHandlePrototype(dir), "write");
      for (let n = 0; n < 10_000; n++) await store.keepAlive(lease.id);
      expect(write).not.toHaveBeenCalled();
      const after = await stat(log);
      expect(after.size).toBe(before.size);
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect(store.stats().logRecords).toBe(2);
    });
  });

  describe("disk failures", () => {
    it("rejects a put whose fdatasync fails with FLT_REGISTRY_STORE_UNAVAILABLE and keeps no trace of it", async () => {
      const dir = await tempDir();
      let store = await openStore(dir);
      await store.put("kept", "1");
      const size = (await stat(join(dir, "store.log"))).size;
      const eio = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
      vi.spyOn(await fileHandlePrototype(dir), "datasync").mockRejectedValueOnce(eio);
      const seen = new EventRecorder(10_000);
      seen.start(store, "", 1);
      const error = await store.put("lost", "2").catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).cause).toBe(eio);
      expect(await store.get("lost")).toBeUndefined();
      expect(await store.currentIndex()).toBe(1);
      expect((await stat(join(dir, "store.log"))).size).toBe(size);
      const next = await store.put("after", "3");
      expect(next.index).toBe(2);
      await seen.waitFor((es) => es.length >= 1);
      expect(seen.events.map((e) => e.key)).toEqual(["after"]);
      store = await reopen(store);
      expect((await store.list("")).entries.map((e) => e.key)).toEqual(["after", "kept"]);
    });

    it("rejects a put whose write fails with ENOSPC", async () => {
      const dir = await tempDir();
      const store = await openStore(dir);
      const enospc = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      vi.spyOn(await fileHandlePrototype(dir), "write").mockRejectedValueOnce(enospc);
      const error = await store.put("k", "v").catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).cause).toBe(enospc);
      expect(await store.get("k")).toBeUndefined();
    });

    it("refuses every later write when a failed write cannot be taken back out of the log", async () => {
      const dir = await tempDir();
      const store = await openStore(dir);
      const proto = await fileHandlePrototype(dir);
      const eio = Object.assign(new Error("EIO"), { code: "EIO" });
      vi.spyOn(proto, "datasync").mockRejectedValueOnce(eio);
      vi.spyOn(proto, "truncate").mockRejectedValueOnce(eio);
      expect(
        isRegistryError(await store.put("a", "1").catch((e: unknown) => e), "FLT_REGISTRY_STORE_UNAVAILABLE"),
      ).toBe(true);
      const later = await store.put("b", "1").catch((e: unknown) => e);
      expect(isRegistryError(later, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
      expect(await store.get("b")).toBeUndefined();
    });

    it("keeps a lease whose expiry could not be written, and expires it at a later sweep", async () => {
      const clock = new FakeClock();
      const dir = await tempDir();
      const error = vi.fn();
      const logger = { error, warn: vi.fn() } as unknown as EmbeddedStoreOptions["logger"];
      const store = await openStore(dir, { clock, sweepInterval: 100, logger });
      const lease = await store.grantLease(500);
      await store.put("k", "v", { lease: lease.id });
      const eio = Object.assign(new Error("EIO"), { code: "EIO" });
      vi.spyOn(await fileHandlePrototype(dir), "datasync").mockRejectedValueOnce(eio);
      const events = new EventRecorder(10_000);
      events.start(store, "", await store.currentIndex());
      await clock.advance(500);
      await vi.waitFor(() =>
        expect(error).toHaveBeenCalledWith(expect.anything(), expect.stringContaining("could not expire")),
      );
      expect(await store.get("k")).toBeDefined();
      await clock.advance(100);
      await events.waitFor((es) => es.some((e) => e.type === "delete"));
      expect(await store.get("k")).toBeUndefined();
    });
  });

  describe("data directory", () => {
    it("refuses a second store on a directory in use, and frees it on close", async () => {
      const dir = await tempDir();
      const store = await openStore(dir);
      const error = await embeddedStore({ dataDir: dir }).catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).message).toContain(`process ${process.pid}`);
      await store.close();
      await openStore(dir);
    });

    it("takes over a lock left by a process that is gone", async () => {
      const dir = await tempDir();
      await writeFile(join(dir, "store.lock"), "2147483646");
      const store = await openStore(dir);
      expect(await readFile(join(dir, "store.lock"), "utf8")).toBe(String(process.pid));
      await store.close();
      await expect(stat(join(dir, "store.lock"))).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("rejects with FLT_REGISTRY_STORE_UNAVAILABLE when the directory cannot be used", async () => {
      const file = join(await tempDir(), "a-file");
      await writeFile(file, "");
      const error = await embeddedStore({ dataDir: file }).catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).cause).toMatchObject({ code: "EEXIST" });
    });
  });

  it("rejects every call after close with FLT_REGISTRY_STORE_CLOSED", async () => {
    const store = await openStore(await tempDir());
    await store.close();
    const error = await store.put("k", "v").catch((e: unknown) => e);
    expect(isRegistryError(error, "FLT_REGISTRY_STORE_CLOSED")).toBe(true);
  });
});

/** The prototype of `node:fs/promises` FileHandle, to inject disk faults into the real file system. */
async function fileHandlePrototype(dir: string): Promise<{
  write: (...args: never[]) => Promise<unknown>;
  datasync: () => Promise<void>;
  truncate: (len?: number) => Promise<void>;
}> {
  const handle = await open(join(dir, "probe"), "w");
  await handle.close();
  return Object.getPrototypeOf(handle);
}
