import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { configIssues } from "@flotilla/resilience/testing";
import { Etcd3 } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRegistryError, type RegistryError } from "../src/registry-error.js";
import { type EtcdStore, etcdStore } from "../src/store/etcd-store.js";
import type { StoreEvent } from "../src/store/store.js";
import { type EtcdServer, startEtcd } from "../src/testing/etcd-server.js";
import { EventRecorder, storeContract } from "./store-contract.js";

const eventTimeoutMs = 10_000;
/** etcd3's per-host breaker stays open 5 s after three failures in a row; a restart adds a few seconds more. */
const recoveryDeadlineMs = 25_000;

let etcd: EtcdServer;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.stop();
});

function uniquePrefix(): string {
  return `flotilla-test-${randomBytes(6).toString("hex")}/`;
}

storeContract("etcd", {
  create: async () => etcdStore({ endpoints: [etcd.endpoint], prefix: uniquePrefix() }),
  // etcd's minimum TTL with default timings is 2 s; it raises a 1 s request to that.
  leaseTtlMs: 1_000,
  eventTimeoutMs,
  deletesCarryPrevious: true,
});

describe("etcd store", () => {
  const opened: EtcdStore[] = [];

  function open(endpoint = etcd.endpoint, prefix = uniquePrefix()): EtcdStore {
    const store = etcdStore({ endpoints: [endpoint], prefix, requestTimeoutMs: 2_000 });
    opened.push(store);
    return store;
  }

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it("rejects bad options at construction, naming each path", () => {
    expect(configIssues(() => etcdStore({ endpoints: [] }))).toEqual([
      "endpoints: expected a non-empty array of etcd client URLs",
    ]);
    const issues = configIssues(() =>
      etcdStore({
        endpoints: ["http://127.0.0.1:2379", "not a url"],
        prefix: "",
        requestTimeoutMs: 0,
        expiryGuard: true,
      } as never),
    );
    expect(issues.map((issue) => issue.split(":")[0])).toEqual(
      expect.arrayContaining(["expiryGuard", "endpoints[1]", "prefix", "requestTimeoutMs"]),
    );
    expect(issues).toHaveLength(4);
    expect(configIssues(() => etcdStore({ endpoints: ["http://a:1", "https://b:2"] }))).toEqual([
      "endpoints: mixes https and plain endpoints; use one scheme",
    ]);
  });

  it("keeps stores with different prefixes apart on one etcd", async () => {
    const one = open();
    const two = open();
    await one.put("k", "one");
    await two.put("k", "two");
    expect((await one.get("k"))?.value).toBe("one");
    expect((await two.get("k"))?.value).toBe("two");
    expect((await one.list("")).entries.map((e) => [e.key, e.value])).toEqual([["k", "one"]]);

    const events = new EventRecorder(eventTimeoutMs);
    events.start(one, "", await one.currentIndex());
    await two.put("other", "x");
    await two.delete("k");
    const own = await one.put("mine", "y");
    await events.waitFor((es) => es.length >= 1);
    events.stop();
    expect(events.events.map((e) => [e.key, e.index])).toEqual([["mine", own.index]]);
    expect((await one.get("k"))?.value).toBe("one");
  });

  it("grants whole-second leases of at least etcd's minimum TTL and reports what etcd gave", async () => {
    const store = open();
    const lease = await store.grantLease(1_500);
    expect(lease.ttlMs % 1_000).toBe(0);
    expect(lease.ttlMs).toBeGreaterThanOrEqual(2_000);
    expect(await store.revokeLease(lease.id)).toBe(true);
  });

  it("a watch whose replay was compacted away gets onReset with the current index, then live events only", async () => {
    const store = open();
    const first = await store.put("a", "1");
    await store.put("b", "1");
    const last = await store.put("c", "1");
    await compact(last.index);

    const events = new EventRecorder(eventTimeoutMs);
    events.start(store, "", first.index - 1);
    await waitUntil(() => events.resets.length > 0, "onReset");
    expect(events.resets[0]).toBeGreaterThanOrEqual(last.index);
    const after = await store.put("d", "1");
    await events.waitFor((es) => es.length >= 1);
    events.stop();
    expect(events.events.map((e) => [e.key, e.index])).toEqual([["d", after.index]]);
    expect(events.resets).toHaveLength(1);
  });

  it("resumes a watch after its connection breaks, without gaps or duplicates", async () => {
    const proxy = await startProxy(new URL(etcd.endpoint).port);
    try {
      const prefix = uniquePrefix();
      const watcher = open(proxy.endpoint, prefix);
      const writer = open(etcd.endpoint, prefix);
      const events = new EventRecorder(eventTimeoutMs);
      const errors: Error[] = [];
      const broke = promiseOf<void>();
      watcher.watch("", await writer.currentIndex(), {
        onEvents: (batch) => events.push(batch),
        onError: (error) => {
          errors.push(error);
          broke.resolve();
        },
      });
      await writer.put("k", "1");
      await events.waitFor((es) => es.length >= 1);

      proxy.cut();
      await broke.promise;
      const during = [await writer.put("k", "2"), await writer.delete("k"), await writer.put("j", "3")];
      proxy.restore();
      await events.waitFor((es) => es.length >= 4);
      const live = await writer.put("k", "4");
      await events.waitFor((es) => es.some((e) => e.index === live.index));

      expect(events.events.map((e) => e.index)).toEqual([
        events.events[0]?.index,
        ...during.map((w) => w.index),
        live.index,
      ]);
      expect(events.events.map((e) => `${e.type} ${e.key}`)).toEqual([
        "put k",
        "put k",
        "delete k",
        "put j",
        "put k",
      ]);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.every((e) => isRegistryError(e, "FLT_REGISTRY_STORE_UNAVAILABLE"))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("fails calls with FLT_REGISTRY_STORE_UNAVAILABLE while etcd is down, and recovers after its restart", async () => {
    const store = open();
    const lease = await store.grantLease(30_000);
    const before = await store.put("kept", "v");
    const events = new EventRecorder(eventTimeoutMs);
    const broke = promiseOf<Error>();
    store.watch("", before.index, {
      onEvents: (batch) => events.push(batch),
      onError: (error) => broke.resolve(error),
    });

    await etcd.kill();
    try {
      expect(isRegistryError(await broke.promise, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
      const calls: (() => Promise<unknown>)[] = [
        () => store.get("kept"),
        () => store.list(""),
        () => store.put("k", "v"),
        () => store.put("k", "v", { cas: 0 }),
        () => store.delete("kept"),
        () => store.grantLease(5_000),
        () => store.keepAlive(lease.id),
        () => store.revokeLease(lease.id),
        () => store.currentIndex(),
      ];
      for (const call of calls) {
        const error = (await call().then(
          () => undefined,
          (e: unknown) => e,
        )) as RegistryError | undefined;
        expect(isRegistryError(error, "FLT_REGISTRY_STORE_UNAVAILABLE"), String(call)).toBe(true);
        expect(error?.cause, String(call)).toBeInstanceOf(Error);
      }
    } finally {
      await etcd.restart();
    }

    await waitUntil(
      async () => (await store.get("kept").catch(() => undefined))?.value === "v",
      "reads after the restart",
      recoveryDeadlineMs,
    );
    const after = await store.put("new", "v");
    await events.waitFor((es) => es.some((e) => e.index === after.index));
    expect(events.events.map((e) => e.key)).toEqual(["new"]);
    expect(await store.keepAlive(lease.id)).toBe(true);
  }, 60_000);

  it("fails with FLT_REGISTRY_STORE_UNAVAILABLE, with the etcd error as cause, when no etcd answers", async () => {
    const port = await closedPort();
    const store = open(`http://127.0.0.1:${port}`);
    const error = (await store.get("k").catch((e: unknown) => e)) as RegistryError;
    expect(isRegistryError(error, "FLT_REGISTRY_STORE_UNAVAILABLE")).toBe(true);
    expect(error.message).toMatch(/^etcd get failed: /);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it("after close, watch throws FLT_REGISTRY_STORE_CLOSED and open watches get no more events", async () => {
    const store = open();
    const writer = open(etcd.endpoint, uniquePrefix());
    const events: StoreEvent[] = [];
    store.watch("", await store.currentIndex(), { onEvents: (batch) => events.push(...batch) });
    await store.close();
    await writer.put("k", "v");
    expect(() => store.watch("", 0, { onEvents() {} })).toThrow(
      expect.objectContaining({ code: "FLT_REGISTRY_STORE_CLOSED" }),
    );
    expect(events).toEqual([]);
  });
});

async function compact(revision: number): Promise<void> {
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await client.kv.compact({ revision, physical: true });
  } finally {
    client.close();
  }
}

/** Polls `condition` until it holds (for conditions across processes); fails after `deadlineMs`. */
async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  deadlineMs = eventTimeoutMs,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function promiseOf<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

interface TcpProxy {
  readonly endpoint: string;
  /** Resets every connection and refuses new ones, as a network partition seen from the client. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `targetPort`, to break one client's connections while etcd runs on. */
async function startProxy(targetPort: string): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(Number(targetPort), "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    cut() {
      cut = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    restore() {
      cut = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
