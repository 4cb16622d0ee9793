// How the server writes check results: the first result of a check that fails from the start, a
// re-registration of the same id, and a server starting over a store that already holds statuses.
import { createMetrics } from "@flotilla/observability";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import type { Probe, ProbeResult } from "../src/health/probe.js";
import { type RegistryServer, registryServer } from "../src/server/registry-server.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import { call, capturingLogger, registration } from "./registry-server-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const base = 1_800_000_000_000;
const passing: ProbeResult = { status: "passing" };
const refused: ProbeResult = { status: "critical", output: "ECONNREFUSED" };

/** A probe whose answer the test sets; `undefined` leaves runs pending until `release()`. */
function scriptedProbe(initial: ProbeResult | undefined) {
  let answer = initial;
  const waiting: ((r: ProbeResult) => void)[] = [];
  let runs = 0;
  const run = (): Promise<ProbeResult> => {
    runs++;
    if (answer !== undefined) return Promise.resolve(answer);
    return new Promise((resolve) => waiting.push(resolve));
  };
  const probe: Probe = { http: run, tcp: run };
  return {
    probe,
    get runs() {
      return runs;
    },
    set(next: ProbeResult | undefined) {
      answer = next;
    },
    release(result: ProbeResult) {
      for (const resolve of waiting.splice(0)) resolve(result);
    },
  };
}

async function openStore(clock: FakeClock): Promise<EmbeddedStore> {
  const store = await embeddedStore({ clock });
  closers.push(() => store.close());
  return store;
}

/** A server over `store` on a fake clock: checks run only when the test advances the clock. */
async function startServer(
  store: EmbeddedStore,
  clock: FakeClock,
  probe: Probe,
): Promise<{ server: RegistryServer; url: string; close(): Promise<void> }> {
  const server = registryServer({
    store,
    clock,
    wallClock: () => base + clock.now(),
    logger: capturingLogger([]),
    metrics: createMetrics({ service: "registry-test", instanceId: "checks", collectDefaults: false }),
    healthChecks: { probe, firstRunSpreadMs: 0, jitter: 0 },
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  closers.push(close);
  const { port } = await server.listen(0);
  return { server, url: `http://127.0.0.1:${port}`, close };
}

/** Runs due checks, then answers the service's instances once its index passes `after`. */
async function nextState(url: string, clock: FakeClock, service: string, after: number) {
  const answer = call(url, "GET", `/v1/services/${service}?status=any&index=${after}`);
  await clock.advance(0);
  return answer;
}

describe("check results", () => {
  it("writes the output of a check that fails from its first run and deregisters a liveness check from then", async () => {
    const clock = new FakeClock();
    const store = await openStore(clock);
    const { url } = await startServer(store, clock, scriptedProbe(refused).probe);
    const registered = await call(
      url,
      "POST",
      "/v1/instances",
      registration("svc", "dead", {
        checks: [{ type: "tcp", kind: "liveness", intervalMs: 500, deregisterCriticalAfterMs: 2_000 }],
      }),
    );
    expect(registered.status).toBe(200);
    const checked = await nextState(url, clock, "svc", registered.index!);
    expect(checked.json.instances[0].checks[0]).toMatchObject({
      type: "tcp",
      status: "critical",
      output: "ECONNREFUSED",
      since: base,
    });
    await clock.advance(1_999);
    expect((await call(url, "GET", "/v1/services/svc?status=any")).json.instances).toHaveLength(1);
    const gone = call(url, "GET", `/v1/services/svc?status=any&index=${checked.index}`);
    await clock.advance(1);
    expect((await gone).json.instances).toEqual([]);
  });

  it("keeps the statuses of unchanged checks when an id registers again, and starts changed ones over", async () => {
    const clock = new FakeClock();
    const store = await openStore(clock);
    const script = scriptedProbe(passing);
    const { url } = await startServer(store, clock, script.probe);
    const body = registration("orders", "o-1", {
      checks: [{ type: "http", name: "ready", url: "http://127.0.0.1:9/ready", intervalMs: 1_000 }],
    });
    const first = await call(url, "POST", "/v1/instances", body);
    expect(first.json.instance.status).toBe("critical");
    const checked = await nextState(url, clock, "orders", first.index!);
    expect(checked.json.instances[0].status).toBe("passing");

    // The next runs never answer: only the carried status can keep the instance in rotation.
    script.set(undefined);
    const again = await call(url, "POST", "/v1/instances", body);
    expect(again.json.instance.status).toBe("passing");
    expect(again.json.instance.checks[0]).toEqual({
      name: "ready",
      type: "http",
      kind: "readiness",
      status: "passing",
      since: base,
    });
    await clock.advance(0);
    const inRotation = await call(url, "GET", "/v1/services/orders");
    expect(inRotation.json.instances.map((i: { id: string }) => i.id)).toEqual(["o-1"]);
    expect(inRotation.index).toBe(again.index);

    const moved = await call(url, "POST", "/v1/instances", {
      ...body,
      checks: [{ type: "http", name: "ready", url: "http://127.0.0.1:9/other", intervalMs: 1_000 }],
    });
    expect(moved.json.instance.checks[0]).toMatchObject({ status: "critical", output: "not yet checked" });
    script.release(passing);
  });

  it("adopts the stored statuses when a server starts, writing nothing until a check changes", async () => {
    const clock = new FakeClock();
    const store = await openStore(clock);
    const first = await startServer(store, clock, scriptedProbe(passing).probe);
    const registered = await call(
      first.url,
      "POST",
      "/v1/instances",
      registration("orders", "o-1", { checks: [{ type: "tcp", intervalMs: 1_000 }] }),
    );
    const checked = await nextState(first.url, clock, "orders", registered.index!);
    expect(checked.json.instances[0].status).toBe("passing");
    await first.close();

    const before = await store.currentIndex();
    const script = scriptedProbe(undefined);
    const second = await startServer(store, clock, script.probe);
    await clock.advance(0);
    expect(script.runs).toBe(1);
    const seen = await call(second.url, "GET", "/v1/services/orders");
    expect(seen.json.instances.map((i: { id: string; status: string }) => `${i.id} ${i.status}`)).toEqual([
      "o-1 passing",
    ]);
    script.release(passing);
    await clock.advance(0);
    expect(await store.currentIndex()).toBe(before);

    // A real change is still written.
    script.set(refused);
    const failed = call(second.url, "GET", `/v1/services/orders?status=any&index=${before}`);
    await clock.advance(1_000);
    expect((await failed).json.instances[0]).toMatchObject({ status: "critical" });
  });
});
