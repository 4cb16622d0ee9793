import { createServer, type Server, type Socket } from "node:net";
import { isTimeoutError } from "@flotilla/resilience";
import { afterEach, describe, expect, it } from "vitest";
import type { InstancesResult } from "../src/client/registry-api.js";
import { type RegistryClient, registryClient } from "../src/client/registry-client.js";
import {
  isRegistryError,
  RegistryErrorCode,
  type RegistryInvalidRequestError,
  type RegistryUnknownLeaseError,
} from "../src/registry-error.js";
import { type Harness, startHarness } from "./registry-server-harness.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(): Promise<{ harness: Harness; client: RegistryClient }> {
  const harness = await startHarness();
  cleanups.push(() => harness.close());
  const client = registryClient({ url: harness.url });
  cleanups.push(() => client.close());
  return { harness, client };
}

/** A TCP server that accepts connections and never answers. */
async function silentServer(): Promise<{ url: string }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { url: `http://127.0.0.1:${address.port}` };
}

/** A URL nothing listens on: a port that was just bound and released. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return `http://127.0.0.1:${address.port}`;
}

const orders = (id: string, extra: object = {}) => ({
  service: "orders",
  id,
  address: "127.0.0.1",
  port: 9000,
  version: "1.2.3",
  ...extra,
});

describe("RegistryClient against a registry server", () => {
  it("registers, renews and deregisters an instance", async () => {
    const { client } = await start();
    const registered = await client.register(orders("orders-1", { tags: ["canary"] }));
    expect(registered.instance).toMatchObject({ id: "orders-1", status: "passing", tags: ["canary"] });
    expect(registered.lease.ttlMs).toBe(10_000);
    expect(await client.renew(registered.lease.id)).toEqual({ ttlMs: 10_000 });
    const listed = await client.instances("orders", { tags: ["canary"], version: "^1.2" });
    expect(listed.instances.map((i) => i.id)).toEqual(["orders-1"]);
    expect(listed.index).toBeGreaterThanOrEqual(registered.index);
    const services = await client.services();
    expect(services.services).toEqual([{ name: "orders", instances: 1, passing: 1 }]);
    expect(await client.deregister("orders", "orders-1")).toBe(true);
    expect(await client.deregister("orders", "orders-1")).toBe(false);
    expect((await client.instances("orders")).instances).toEqual([]);
  });

  it("maps a refused registration to RegistryInvalidRequestError with the field paths", async () => {
    const { client } = await start();
    const error = await client
      .register(orders("orders-1", { checks: [{ type: "http", url: "not a url" }], port: 0 }))
      .catch((e: unknown) => e);
    expect(isRegistryError(error, RegistryErrorCode.InvalidRequest)).toBe(true);
    const paths = (error as RegistryInvalidRequestError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["checks[0].url", "port"]));
  });

  it("maps the renewal of an unknown lease to RegistryUnknownLeaseError", async () => {
    const { client } = await start();
    const error = await client.renew("no-such-lease").catch((e: unknown) => e);
    expect(isRegistryError(error, RegistryErrorCode.UnknownLease)).toBe(true);
    expect((error as RegistryUnknownLeaseError).lease).toBe("no-such-lease");
  });

  it("wakes a blocking query when an instance registers", async () => {
    const { client } = await start();
    const first = await client.instances("orders");
    const other = registryClient({ url: client.urls[0]! });
    cleanups.push(() => other.close());
    await other.register(orders("orders-0"));
    const base = await client.instances("orders");
    expect(base.index).toBeGreaterThan(first.index);
    const waiting = client.instances("orders", { index: base.index, waitMs: 60_000 });
    await other.register(orders("orders-1"));
    const woken = await waiting;
    expect(woken.index).toBeGreaterThan(base.index);
    expect(woken.instances.map((i) => i.id)).toEqual(["orders-0", "orders-1"]);
  });

  it("answers a blocking query with the unchanged result when the wait runs out", async () => {
    const { client } = await start();
    await client.register(orders("orders-0"));
    const base = await client.instances("orders");
    const answer = await client.instances("orders", { index: base.index, waitMs: 100 });
    expect(answer).toEqual(base);
  });

  it("streams a snapshot and then every change, and resumes from the last event id without a snapshot", async () => {
    const { client } = await start();
    const other = registryClient({ url: client.urls[0]! });
    cleanups.push(() => other.close());
    const controller = new AbortController();
    const events: { type: string; result: InstancesResult }[] = [];
    let notify: () => void = () => {};
    const next = () =>
      new Promise<void>((resolve) => {
        notify = resolve;
      });
    let arrived = next();
    const streaming = client.streamInstances(
      "orders",
      {},
      {
        onSnapshot: (result) => {
          events.push({ type: "snapshot", result });
          notify();
        },
        onUpdate: (result) => {
          events.push({ type: "update", result });
          notify();
        },
        signal: controller.signal,
      },
    );
    await arrived;
    arrived = next();
    await other.register(orders("orders-1"));
    await arrived;
    controller.abort();
    const end = await streaming;
    expect(events.map((e) => [e.type, e.result.instances.map((i) => i.id)])).toEqual([
      ["snapshot", []],
      ["update", ["orders-1"]],
    ]);
    expect(end).toEqual({ lastEventId: String(events[1]!.result.index), error: undefined });

    const resumed: string[] = [];
    const again = new AbortController();
    let opened!: () => void;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    arrived = next();
    const resuming = client.streamInstances(
      "orders",
      {},
      {
        onOpen: opened,
        onSnapshot: () => resumed.push("snapshot"),
        onUpdate: (result) => {
          resumed.push(`update ${result.instances.map((i) => i.id).join(",")}`);
          notify();
        },
        signal: again.signal,
        lastEventId: end.lastEventId,
      },
    );
    await open;
    await other.register(orders("orders-2"));
    await arrived;
    again.abort();
    await resuming;
    expect(resumed).toEqual(["update orders-1,orders-2"]);
  });

  it("writes KV entries with compare-and-set and waits for a key's creation", async () => {
    const { client } = await start();
    const absent = await client.kvGet("cfg/flag");
    expect(absent.entry).toBeUndefined();
    const waiting = client.kvGet("cfg/flag", { index: absent.index, waitMs: 60_000 });
    const created = await client.kvPut("cfg/flag", "on", { cas: 0 });
    expect(created.ok).toBe(true);
    const woken = await waiting;
    expect(woken.entry).toMatchObject({ key: "cfg/flag", value: "on", modifyIndex: created.modifyIndex });

    expect(await client.kvPut("cfg/flag", "again", { cas: 0 })).toEqual({
      ok: false,
      modifyIndex: created.modifyIndex,
    });
    const updated = await client.kvPut("cfg/flag", "off", { cas: created.modifyIndex });
    expect(updated.ok).toBe(true);
    expect(await client.kvDelete("cfg/flag", { cas: created.modifyIndex })).toEqual({
      ok: false,
      found: true,
      modifyIndex: updated.modifyIndex,
    });
    await client.kvPut("cfg/other", "x");
    expect((await client.kvList("cfg/")).entries.map((e) => [e.key, e.value])).toEqual([
      ["cfg/flag", "off"],
      ["cfg/other", "x"],
    ]);
    expect((await client.kvDelete("cfg/flag", { cas: updated.modifyIndex })).ok).toBe(true);
    expect(await client.kvDelete("cfg/flag")).toEqual({ ok: false, found: false, modifyIndex: 0 });
    expect((await client.kvGet("cfg/flag")).entry).toBeUndefined();
  });

  it("streams the KV entries under a prefix", async () => {
    const { client } = await start();
    await client.kvPut("app/a", "1");
    const controller = new AbortController();
    const seen: string[] = [];
    let updated!: () => void;
    const update = new Promise<void>((resolve) => {
      updated = resolve;
    });
    let opened!: () => void;
    const snapshot = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const streaming = client.streamKv(
      { prefix: "app/" },
      {
        onSnapshot: (r) => {
          seen.push(`snapshot ${r.entries.map((e) => `${e.key}=${e.value}`).join(",")}`);
          opened();
        },
        onUpdate: (r) => {
          seen.push(`update ${r.entries.map((e) => `${e.key}=${e.value}`).join(",")}`);
          updated();
        },
        signal: controller.signal,
      },
    );
    await snapshot;
    await client.kvPut("app/b", "2");
    await update;
    controller.abort();
    expect((await streaming).error).toBeUndefined();
    expect(seen).toEqual(["snapshot app/a=1", "update app/a=1,app/b=2"]);
  });

  it("fails over from a server that refuses connections to one that answers", async () => {
    const { harness } = await start();
    const client = registryClient({ url: [await deadUrl(), harness.url] });
    cleanups.push(() => client.close());
    const registered = await client.register(orders("orders-1"));
    expect(await client.renew(registered.lease.id)).toEqual({ ttlMs: 10_000 });
  });

  it("reports FLT_REGISTRY_UNREACHABLE with the cause when no server answers in time", async () => {
    const silent = await silentServer();
    const dead = await deadUrl();
    const client = registryClient({ url: [silent.url, dead], timeoutMs: 200 });
    cleanups.push(() => client.close());
    const error = await client.renew("lease").catch((e: unknown) => e);
    expect(isRegistryError(error, RegistryErrorCode.Unreachable)).toBe(true);
    expect((error as Error).message).toContain(dead);
    const onlySilent = registryClient({ url: silent.url, timeoutMs: 200 });
    cleanups.push(() => onlySilent.close());
    const timedOut = await onlySilent.instances("orders").catch((e: unknown) => e);
    expect(isRegistryError(timedOut, RegistryErrorCode.Unreachable)).toBe(true);
    expect(isTimeoutError((timedOut as Error).cause)).toBe(true);
  });
});
