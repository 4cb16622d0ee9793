import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import type { Probe, ProbeResult } from "../src/health/probe.js";
import { resolveChecks } from "../src/health/resolve-checks.js";
import type { CheckDefinition, InstanceRecord } from "../src/registration.js";
import { InstanceHealth } from "../src/server/instance-health.js";
import { aggregateStatus, initialChecks } from "../src/server/instance-status.js";
import { InstanceWriter } from "../src/server/instance-writer.js";
import { RegistryView } from "../src/server/registry-view.js";
import { encodeInstance, instanceKey } from "../src/server/store-layout.js";
import { embeddedStore } from "../src/store/embedded-store.js";
import { capturingLogger } from "./registry-server-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** InstanceHealth over an in-memory store, a fake clock and a probe whose answer the test sets. */
async function healthRig() {
  const clock = new FakeClock();
  const store = await embeddedStore({ clock });
  const deregistered: string[] = [];
  let answer: ProbeResult = { status: "passing" };
  const probe: Probe = {
    http: async () => answer,
    tcp: async () => answer,
  };
  let health: InstanceHealth | undefined;
  const view = new RegistryView({
    store,
    clock,
    observer: { instanceChanged: (current, previous) => health?.instanceChanged(current, previous) },
  });
  const writer = new InstanceWriter({ store, view, catchUpMs: 1000 });
  health = new InstanceHealth({
    clock,
    wallClock: () => clock.now(),
    view,
    writer,
    logger: capturingLogger([]),
    checker: { probe, firstRunSpreadMs: 0, jitter: 0 },
    onRun: () => {},
    deregister: async (service, id) => {
      deregistered.push(`${service}/${id}`);
    },
  });
  const h = health;
  closers.push(async () => {
    await h.close();
    view.close();
    await store.close();
  });
  await view.start();
  const register = async (id: string, checks: CheckDefinition[]) => {
    const definitions = resolveChecks([...checks, { type: "ttl" }]);
    const statuses = initialChecks(definitions, clock.now());
    const record: Omit<InstanceRecord, "modifyIndex"> = {
      id,
      service: "svc",
      address: "127.0.0.1",
      port: 9,
      version: "1.0.0",
      weight: 1,
      tags: [],
      metadata: {},
      status: aggregateStatus(statuses),
      checks: statuses,
      lease: `lease-${id}`,
      ttlMs: 10_000,
      registeredAt: 0,
    };
    await store.put(instanceKey("svc", id), encodeInstance(record, definitions));
    await clock.flush();
  };
  return {
    clock,
    health: h,
    deregistered,
    register,
    setAnswer: (next: ProbeResult) => {
      answer = next;
    },
    status: (id: string) => view.instance("svc", id)?.record,
  };
}

describe("instance health", () => {
  it("turns an instance passing at its first successful run and critical when its check fails", async () => {
    const r = await healthRig();
    await r.register("a", [{ type: "http", url: "http://127.0.0.1:9/ready", intervalMs: 1_000 }]);
    expect(r.status("a")!.status).toBe("critical");
    await r.clock.advance(0);
    expect(r.status("a")!.status).toBe("passing");
    expect(r.health.tracked).toBe(1);
    r.setAnswer({ status: "warning", output: "HTTP 429" });
    await r.clock.advance(1_000);
    expect(r.status("a")!.status).toBe("warning");
    r.setAnswer({ status: "critical", output: "HTTP 503" });
    await r.clock.advance(1_000);
    const record = r.status("a")!;
    expect(record.status).toBe("critical");
    expect(record.checks.find((c) => c.type === "http")).toMatchObject({
      status: "critical",
      output: "HTTP 503",
    });
    expect(record.checks.find((c) => c.type === "ttl")!.status).toBe("passing");
  });

  it("deregisters after a liveness check stays critical, unless it recovers first", async () => {
    const r = await healthRig();
    await r.register("b", [
      { type: "tcp", kind: "liveness", intervalMs: 1_000, deregisterCriticalAfterMs: 5_000 },
    ]);
    await r.clock.advance(0);
    r.setAnswer({ status: "critical", output: "ECONNREFUSED" });
    await r.clock.advance(1_000);
    await r.clock.advance(3_000);
    r.setAnswer({ status: "passing" });
    await r.clock.advance(1_000);
    await r.clock.advance(5_000);
    expect(r.deregistered).toEqual([]);
    r.setAnswer({ status: "critical", output: "ECONNREFUSED" });
    await r.clock.advance(1_000);
    await r.clock.advance(4_999);
    expect(r.deregistered).toEqual([]);
    await r.clock.advance(1);
    expect(r.deregistered).toEqual(["svc/b"]);
  });

  it("never deregisters for a readiness check", async () => {
    const r = await healthRig();
    await r.register("c", [{ type: "tcp", intervalMs: 1_000, deregisterCriticalAfterMs: 1_000 }]);
    r.setAnswer({ status: "critical", output: "ECONNREFUSED" });
    await r.clock.advance(10_000);
    expect(r.status("c")!.status).toBe("critical");
    expect(r.deregistered).toEqual([]);
  });
});
