import { ConfigError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ClientLogger } from "../src/client/client-logger.js";
import type { RegistrationApi, RegistrationStateChange } from "../src/client/lease-keeper.js";
import type { CallOptions } from "../src/client/registry-api.js";
import { isRegistryClientClosedError } from "../src/client/registry-client-closed-error.js";
import { type SelfRegistrationOptions, selfRegistration } from "../src/client/self-registration.js";
import {
  type ThirdPartyRegistrationOptions,
  thirdPartyRegistration,
} from "../src/client/third-party-registration.js";
import type { RegistrationRequest, RegistrationResponse } from "../src/registration.js";
import {
  RegistryError,
  RegistryErrorCode,
  RegistryInvalidRequestError,
  RegistryUnknownLeaseError,
} from "../src/registry-error.js";

type Call =
  | { readonly op: "register"; readonly id: string; readonly at: number }
  | { readonly op: "renew"; readonly lease: string; readonly at: number }
  | { readonly op: "deregister"; readonly id: string; readonly at: number };

/** An in-memory registry: grants leases, forgets them on demand, goes down on demand. */
class FakeRegistry implements RegistrationApi {
  readonly calls: Call[] = [];
  /** Lease id → instance id and TTL. */
  readonly leases = new Map<string, { id: string; ttlMs: number }>();
  down = false;
  /** When set, the TTL every renewal grants. */
  ttlOverride: number | undefined;
  /** When set, register rejects with this (a 400). */
  rejectWith: RegistryInvalidRequestError | undefined;
  /** When true, deregister waits for its signal. */
  hangDeregister = false;
  #next = 1;

  constructor(readonly clock: FakeClock) {}

  async register(request: RegistrationRequest): Promise<RegistrationResponse> {
    this.calls.push({ op: "register", id: request.id, at: this.clock.now() });
    this.#failIfDown();
    if (this.rejectWith !== undefined) throw this.rejectWith;
    const lease = `lease-${this.#next++}`;
    const ttlMs = request.ttlMs ?? 10_000;
    this.leases.set(lease, { id: request.id, ttlMs });
    return {
      instance: {
        id: request.id,
        service: request.service,
        address: request.address,
        port: request.port,
        version: "0.0.0",
        weight: 1,
        tags: [],
        metadata: {},
        status: "passing",
        checks: [],
        lease,
        ttlMs,
        registeredAt: 0,
        modifyIndex: this.#next,
      },
      lease: { id: lease, ttlMs },
      index: this.#next,
    };
  }

  async renew(leaseId: string): Promise<{ ttlMs: number }> {
    this.calls.push({ op: "renew", lease: leaseId, at: this.clock.now() });
    this.#failIfDown();
    const lease = this.leases.get(leaseId);
    if (lease === undefined) throw new RegistryUnknownLeaseError(leaseId);
    return { ttlMs: this.ttlOverride ?? lease.ttlMs };
  }

  async deregister(_service: string, id: string, options: CallOptions = {}): Promise<boolean> {
    this.calls.push({ op: "deregister", id, at: this.clock.now() });
    if (this.hangDeregister) {
      await new Promise((_, reject) =>
        options.signal?.addEventListener("abort", () => reject(options.signal?.reason)),
      );
    }
    this.#failIfDown();
    for (const [lease, owner] of this.leases) if (owner.id === id) this.leases.delete(lease);
    return true;
  }

  count(op: Call["op"]): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  at(op: Call["op"]): number[] {
    return this.calls.filter((c) => c.op === op).map((c) => c.at);
  }

  #failIfDown(): void {
    if (this.down)
      throw new RegistryError(RegistryErrorCode.Unreachable, "registry unreachable: ECONNREFUSED");
  }
}

/** A logger that records the level and message of each line. */
function recordingLogger(): ClientLogger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (_fields: object, message: string) => lines.push({ level, message });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const orders: RegistrationRequest = {
  service: "orders",
  id: "orders-1",
  address: "10.0.0.7",
  port: 8080,
  ttlMs: 3_000,
};

/** Doubles from 100 ms, without jitter, so that retry times are exact. */
const doubling = (attempt: number) => 100 * 2 ** (attempt - 1);

function setup(options: Partial<SelfRegistrationOptions> = {}) {
  const clock = new FakeClock();
  const registry = new FakeRegistry(clock);
  const logger = recordingLogger();
  const changes: RegistrationStateChange[] = [];
  const registration = selfRegistration({
    client: registry,
    registration: orders,
    clock,
    logger,
    backoff: doubling,
    handleSignals: false,
    onStateChange: (change) => changes.push(change),
    ...options,
  });
  return { clock, registry, logger, changes, registration };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("selfRegistration", () => {
  it("registers at start and renews the lease at a third of its TTL", async () => {
    const { clock, registry, registration } = setup();
    registration.start();
    await registration.registered();
    expect(registration.state).toBe("registered");
    expect(registration.lease).toBe("lease-1");
    await clock.advance(999);
    expect(registry.count("renew")).toBe(0);
    await clock.advance(1);
    expect(registry.at("renew")).toEqual([1_000]);
    await clock.advance(2_000);
    expect(registry.at("renew")).toEqual([1_000, 2_000, 3_000]);
    expect(registry.count("register")).toBe(1);
    await registration.stop();
  });

  it("follows a TTL the registry changes on renewal", async () => {
    const { clock, registry, registration } = setup();
    registration.start();
    await clock.advance(1_000);
    registry.ttlOverride = 9_000;
    await clock.advance(1_000);
    expect(registry.at("renew")).toEqual([1_000, 2_000]);
    await clock.advance(3_000);
    expect(registry.at("renew")).toEqual([1_000, 2_000, 5_000]);
    await registration.stop();
  });

  it("retries an unreachable registry with backoff, logs the outage once, and never throws", async () => {
    const { clock, registry, logger, registration } = setup();
    registry.down = true;
    registration.start();
    await clock.advance(1_000);
    expect(registry.at("register")).toEqual([0, 100, 300, 700]);
    expect(registration.state).toBe("unreachable");
    registry.down = false;
    await clock.advance(800);
    expect(registry.at("register")).toEqual([0, 100, 300, 700, 1_500]);
    expect(registration.state).toBe("registered");
    expect(logger.lines.filter((l) => l.level === "warn")).toHaveLength(1);
    expect(logger.lines.filter((l) => l.message.includes("reachable again"))).toHaveLength(1);
    await registration.stop();
  });

  it("logs heartbeat failures once per outage and keeps renewing, never waiting longer than the heartbeat", async () => {
    const { clock, registry, logger, registration } = setup();
    registration.start();
    await clock.advance(0);
    registry.down = true;
    await clock.advance(1_000);
    await clock.advance(10_000);
    const renewsDuringOutage = registry.count("renew");
    expect(renewsDuringOutage).toBeGreaterThan(5);
    const gaps = registry
      .at("renew")
      .slice(1)
      .map((t, i) => t - registry.at("renew")[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_000);
    expect(logger.lines.filter((l) => l.level === "warn")).toHaveLength(1);
    registry.down = false;
    await clock.advance(1_000);
    expect(registration.state).toBe("registered");
    registry.down = true;
    await clock.advance(2_000);
    expect(logger.lines.filter((l) => l.level === "warn")).toHaveLength(2);
    await registration.stop();
  });

  it("registers again at once when the registry no longer knows the lease", async () => {
    const { clock, registry, registration, changes } = setup();
    registration.start();
    await clock.advance(0);
    registry.leases.clear();
    await clock.advance(1_000);
    expect(registry.calls.map((c) => [c.op, c.at])).toEqual([
      ["register", 0],
      ["renew", 1_000],
      ["register", 1_000],
    ]);
    expect(registration.lease).toBe("lease-2");
    expect(changes.map((c) => c.state)).toEqual(["registered", "registering", "registered"]);
    await clock.advance(1_000);
    expect(registry.calls.at(-1)).toEqual({ op: "renew", lease: "lease-2", at: 2_000 });
    await registration.stop();
  });

  it("re-registers after an outage long enough for the lease to lapse", async () => {
    const { clock, registry, registration } = setup();
    registration.start();
    await clock.advance(0);
    registry.down = true;
    await clock.advance(5_000);
    registry.leases.clear();
    registry.down = false;
    await clock.advance(1_000);
    expect(registry.count("register")).toBe(2);
    expect(registration.state).toBe("registered");
    await registration.stop();
  });

  it("deregisters on stop and clears its timers", async () => {
    const { clock, registry, registration, changes } = setup();
    registration.start();
    await clock.advance(1_500);
    await registration.stop();
    expect(registry.calls.at(-1)).toEqual({ op: "deregister", id: "orders-1", at: 1_500 });
    expect(registration.state).toBe("stopped");
    expect(changes.at(-1)?.state).toBe("stopped");
    expect(clock.pendingTimers).toBe(0);
    const calls = registry.calls.length;
    await clock.advance(10_000);
    expect(registry.calls.length).toBe(calls);
    registration.start();
    await clock.advance(10_000);
    expect(registry.calls.length).toBe(calls);
  });

  it("bounds deregistration by deregisterTimeoutMs", async () => {
    const { clock, registry, logger, registration } = setup({ deregisterTimeoutMs: 2_000 });
    registry.hangDeregister = true;
    registration.start();
    await clock.advance(0);
    let stopped = false;
    const stopping = registration.stop().then(() => {
      stopped = true;
    });
    await clock.advance(1_999);
    expect(stopped).toBe(false);
    await clock.advance(1);
    await stopping;
    expect(stopped).toBe(true);
    expect(logger.lines.some((l) => l.level === "warn" && l.message.includes("deregistration failed"))).toBe(
      true,
    );
  });

  it("does not retry a registration the registry rejects as invalid", async () => {
    const { clock, registry, registration } = setup();
    const rejection = new RegistryInvalidRequestError([{ path: "port", message: "must be at most 65535" }]);
    registry.rejectWith = rejection;
    registration.start();
    await expect(registration.registered()).rejects.toBe(rejection);
    await clock.advance(60_000);
    expect(registry.count("register")).toBe(1);
    expect(registration.state).toBe("rejected");
    await registration.stop();
    expect(registry.count("deregister")).toBe(1);
  });

  it("rejects registered() when stopped before the registry ever answered", async () => {
    const { clock, registry, registration } = setup();
    registry.down = true;
    registration.start();
    const registered = registration.registered().catch((e: unknown) => e);
    await clock.advance(500);
    await registration.stop();
    const error = await registered;
    expect(isRegistryClientClosedError(error)).toBe(true);
  });

  it("deregisters on SIGTERM and removes its listeners, without exiting when exitOnSignal is false", async () => {
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const before = process.listenerCount("SIGTERM");
    const beforeInt = process.listenerCount("SIGINT");
    const { clock, registry, registration } = setup({ handleSignals: true, exitOnSignal: false });
    registration.start();
    await clock.advance(0);
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    process.emit("SIGTERM", "SIGTERM");
    await registration.stop();
    expect(registry.count("deregister")).toBe(1);
    expect(process.listenerCount("SIGTERM")).toBe(before);
    expect(process.listenerCount("SIGINT")).toBe(beforeInt);
    await clock.flush();
    expect(exit).not.toHaveBeenCalled();
  });

  it("exits with 0 after deregistering on SIGINT when exitOnSignal is on", async () => {
    const exited = new Promise<unknown>((resolve) => {
      vi.spyOn(process, "exit").mockImplementation(((code: unknown) => resolve(code)) as never);
    });
    const beforeInt = process.listenerCount("SIGINT");
    const { clock, registry, registration } = setup({ handleSignals: true });
    registration.start();
    await clock.advance(0);
    process.emit("SIGINT", "SIGINT");
    expect(await exited).toBe(0);
    expect(registry.count("deregister")).toBe(1);
    expect(process.listenerCount("SIGINT")).toBe(beforeInt);
  });

  it("removes its signal listeners on stop", async () => {
    const before = process.listenerCount("SIGTERM");
    const { registration } = setup({ handleSignals: true, exitOnSignal: false });
    registration.start();
    registration.start();
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    await registration.stop();
    expect(process.listenerCount("SIGTERM")).toBe(before);
  });

  it("rejects bad options with their paths", () => {
    const clock = new FakeClock();
    const bad = () =>
      selfRegistration({
        client: new FakeRegistry(clock),
        registration: { service: "orders", id: "", address: "x", port: 70_000 } as RegistrationRequest,
        handleSignals: "yes" as unknown as boolean,
      });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
        "registration.id",
        "registration.port",
        "handleSignals",
      ]);
    }
  });
});

function setupThirdParty(
  registrations: readonly RegistrationRequest[],
  options: Partial<ThirdPartyRegistrationOptions> = {},
) {
  const clock = new FakeClock();
  const registry = new FakeRegistry(clock);
  const external = thirdPartyRegistration({
    client: registry,
    registrations,
    clock,
    backoff: doubling,
    ...options,
  });
  return { clock, registry, external };
}

const postgres: RegistrationRequest = {
  service: "postgres",
  id: "pg-1",
  address: "10.0.0.9",
  port: 5432,
  ttlMs: 3_000,
  checks: [{ type: "tcp" }],
};
const legacy: RegistrationRequest = {
  service: "legacy",
  id: "legacy-1",
  address: "10.0.0.10",
  port: 80,
  ttlMs: 6_000,
  checks: [{ type: "http", url: "http://10.0.0.10/health" }],
};

describe("thirdPartyRegistration", () => {
  it("registers every instance and renews each lease at a third of its TTL with one timer", async () => {
    const { clock, registry, external } = setupThirdParty([postgres, legacy]);
    external.start();
    await external.registered();
    expect(registry.calls.map((c) => c.op)).toEqual(["register", "register"]);
    let maxTimers = 0;
    for (let t = 0; t < 6_000; t += 250) {
      await clock.advance(250);
      maxTimers = Math.max(maxTimers, clock.pendingTimers);
    }
    expect(maxTimers).toBe(1);
    const renewsOf = (lease: string) => registry.calls.filter((c) => c.op === "renew" && c.lease === lease);
    expect(renewsOf("lease-1").map((c) => c.at)).toEqual([1_000, 2_000, 3_000, 4_000, 5_000, 6_000]);
    expect(renewsOf("lease-2").map((c) => c.at)).toEqual([2_000, 4_000, 6_000]);
    expect([...external.states.values()]).toEqual(["registered", "registered"]);
    await external.stop();
  });

  it("registers again only the instance whose lease the registry forgot", async () => {
    const { clock, registry, external } = setupThirdParty([postgres, legacy]);
    external.start();
    await clock.advance(0);
    registry.leases.delete("lease-2");
    await clock.advance(2_000);
    expect(registry.calls.filter((c) => c.op === "register").map((c) => c.id)).toEqual([
      "pg-1",
      "legacy-1",
      "legacy-1",
    ]);
    await external.stop();
  });

  it("deregisters every instance on stop", async () => {
    const { clock, registry, external } = setupThirdParty([postgres, legacy]);
    external.start();
    await clock.advance(100);
    await external.stop();
    expect(
      registry.calls
        .filter((c) => c.op === "deregister")
        .map((c) => c.id)
        .sort(),
    ).toEqual(["legacy-1", "pg-1"]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("requires an http or tcp check on each registration, and distinct ids", () => {
    const clock = new FakeClock();
    const make = () =>
      thirdPartyRegistration({
        client: new FakeRegistry(clock),
        registrations: [
          postgres,
          { ...legacy, checks: [{ type: "ttl" }] },
          { ...postgres, checks: [{ type: "tcp" }] },
        ],
      });
    expect(make).toThrow(ConfigError);
    try {
      make();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
        "registrations[1].checks",
        "registrations[2].id",
      ]);
    }
    expect(() => thirdPartyRegistration({ client: new FakeRegistry(clock), registrations: [] })).toThrow(
      /registrations/,
    );
  });
});
