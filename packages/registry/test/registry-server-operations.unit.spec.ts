// What operators see: /health with a failing store, store errors as HTTP problems, the metric
// labels, and the usage text of registry-main.
import { createMetrics } from "@flotilla/observability";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryError, RegistryErrorCode } from "../src/registry-error.js";
import { registryMainUsage } from "../src/server/registry-main-options.js";
import { registryServer } from "../src/server/registry-server.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import type { Store } from "../src/store/store.js";
import { call, capturingLogger, registration, startHarness } from "./registry-server-harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** What the faulty store does instead of answering. */
interface Faults {
  currentIndex?: "reject" | "hang";
  /** Called when `currentIndex` is asked for while it hangs. */
  onHang?: () => void;
  /** Thrown by `put` of an instance record. */
  putInstance?: RegistryError;
}

/** An embedded store whose `currentIndex` and instance writes fail as `faults` say. */
function faultyStore(inner: EmbeddedStore, faults: Faults): Store {
  return new Proxy(inner, {
    get(target, property) {
      if (property === "currentIndex" && faults.currentIndex !== undefined) {
        return () =>
          faults.currentIndex === "reject"
            ? Promise.reject(
                new RegistryError(
                  RegistryErrorCode.StoreUnavailable,
                  "etcd currentIndex failed: connect ECONNREFUSED",
                ),
              )
            : new Promise(() => faults.onHang?.());
      }
      if (property === "put" && faults.putInstance !== undefined) {
        const error = faults.putInstance;
        return (key: string, value: string, options?: unknown) =>
          key.startsWith("instances/")
            ? Promise.reject(error)
            : target.put(key, value, options as Parameters<EmbeddedStore["put"]>[2]);
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function startFaulty(faults: Faults, clock?: FakeClock) {
  const inner = await embeddedStore(clock === undefined ? {} : { clock });
  const server = registryServer({
    store: faultyStore(inner, faults),
    ...(clock === undefined ? {} : { clock }),
    logger: capturingLogger([]),
    metrics: createMetrics({ service: "registry-test", instanceId: "ops", collectDefaults: false }),
  });
  closers.push(async () => {
    await server.close();
    await inner.close();
  });
  const { port } = await server.listen(0);
  return `http://127.0.0.1:${port}`;
}

describe("GET /health", () => {
  it("answers fail with the reason while the store does not answer, checking it at most once a second", async () => {
    const clock = new FakeClock();
    const faults: Faults = {};
    const url = await startFaulty(faults, clock);
    expect((await call(url, "GET", "/health")).json).toEqual({
      status: "pass",
      selfPreservation: false,
      store: "embedded",
    });

    faults.currentIndex = "reject";
    expect((await call(url, "GET", "/health")).status).toBe(200);
    await clock.advance(1_000);
    const failed = await call(url, "GET", "/health");
    expect(failed.status).toBe(503);
    expect(failed.json).toEqual({
      status: "fail",
      selfPreservation: false,
      store: "embedded",
      reason: "the embedded store failed: etcd currentIndex failed: connect ECONNREFUSED",
    });

    faults.currentIndex = "hang";
    const asked = new Promise<void>((resolve) => {
      faults.onHang = resolve;
    });
    await clock.advance(1_000);
    const pending = call(url, "GET", "/health");
    await asked;
    await clock.advance(1_000);
    const timedOut = await pending;
    expect(timedOut.status).toBe(503);
    expect(timedOut.json.reason).toBe("the embedded store did not answer within 1000 ms");

    delete faults.currentIndex;
    await clock.advance(1_000);
    expect((await call(url, "GET", "/health")).json.status).toBe("pass");
  });
});

describe("store errors as problems", () => {
  it("answers 413 for a write the store refused as too large and 503 with Retry-After when it failed", async () => {
    const faults: Faults = {
      putInstance: new RegistryError(
        RegistryErrorCode.LimitExceeded,
        "etcd put refused: etcdserver: request is too large",
      ),
    };
    const url = await startFaulty(faults);
    const tooLarge = await call(url, "POST", "/v1/instances", registration("svc", "big"));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json).toMatchObject({
      status: 413,
      code: "FLT_REGISTRY_LIMIT_EXCEEDED",
      detail: "etcd put refused: etcdserver: request is too large",
    });

    faults.putInstance = new RegistryError(RegistryErrorCode.StoreUnavailable, "etcd put failed: no leader");
    const unavailable = await call(url, "POST", "/v1/instances", registration("svc", "big"));
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers["retry-after"]).toBe("1");
    expect(unavailable.json.code).toBe("FLT_REGISTRY_STORE_UNAVAILABLE");
  });
});

describe("metrics", () => {
  it("labels instances with registered_service and keeps the registry's own service label", async () => {
    const h = await startHarness();
    closers.push(() => h.close());
    await call(h.url, "POST", "/v1/instances", registration("orders", "o-1"));
    const text = (await call(h.url, "GET", "/metrics")).text;
    const lines = text.split("\n").filter((l) => l.startsWith("flotilla_registry_instances{"));
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).toContain('registered_service="orders"');
      expect(line).toContain('service="registry-test"');
    }
  });
});

describe("registry-main usage", () => {
  it("names the command as it is run from the build", () => {
    expect(registryMainUsage.split("\n")[0]).toBe(
      "usage: node packages/registry/dist/server/registry-main.js [options]",
    );
    expect(registryMainUsage).not.toContain("/src/");
  });
});
