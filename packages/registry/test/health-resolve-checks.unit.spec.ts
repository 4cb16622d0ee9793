import { isConfigError } from "@flotilla/resilience";
import { describe, expect, it } from "vitest";
import { resolveChecks } from "../src/health/resolve-checks.js";
import type { CheckDefinition } from "../src/registration.js";
import { isRegistryError, RegistryErrorCode, RegistryInvalidRequestError } from "../src/registry-error.js";

function issuesOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(isRegistryError(error, RegistryErrorCode.InvalidRequest)).toBe(true);
    return (error as RegistryInvalidRequestError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error("expected a RegistryInvalidRequestError");
}

describe("resolveChecks", () => {
  it("applies every default", () => {
    expect(
      resolveChecks([
        { type: "http", url: "http://10.0.0.7:8080/health/ready" },
        { type: "tcp" },
        { type: "ttl" },
      ]),
    ).toEqual([
      {
        type: "http",
        name: "http-readiness",
        kind: "readiness",
        intervalMs: 10_000,
        timeoutMs: 2_000,
        url: "http://10.0.0.7:8080/health/ready",
      },
      { type: "tcp", name: "tcp-readiness", kind: "readiness", intervalMs: 10_000, timeoutMs: 2_000 },
      { type: "ttl", name: "ttl-liveness", kind: "liveness" },
    ]);
  });

  it("keeps given fields, including tcp's address and port and the deregistration delay", () => {
    const [http, tcp, ttl] = resolveChecks([
      {
        type: "http",
        name: "ready",
        kind: "liveness",
        url: "https://x/h",
        intervalMs: 5000,
        timeoutMs: 1000,
        deregisterCriticalAfterMs: 60_000,
      },
      { type: "tcp", address: "db", port: 5432, intervalMs: 1000 },
      { type: "ttl", name: "lease", deregisterCriticalAfterMs: 90_000 },
    ]);
    expect(http).toEqual({
      type: "http",
      name: "ready",
      kind: "liveness",
      url: "https://x/h",
      intervalMs: 5000,
      timeoutMs: 1000,
      deregisterCriticalAfterMs: 60_000,
    });
    expect(tcp).toMatchObject({ address: "db", port: 5432, intervalMs: 1000, timeoutMs: 1000 });
    expect(ttl).toEqual({ type: "ttl", name: "lease", kind: "liveness", deregisterCriticalAfterMs: 90_000 });
  });

  it("clamps the timeout to the interval", () => {
    const [check] = resolveChecks([{ type: "tcp", intervalMs: 500, timeoutMs: 3000 }]);
    expect(check).toMatchObject({ intervalMs: 500, timeoutMs: 500 });
    const [byDefault] = resolveChecks([{ type: "tcp", intervalMs: 1500 }]);
    expect(byDefault).toMatchObject({ intervalMs: 1500, timeoutMs: 1500 });
  });

  it("takes other defaults from the caller", () => {
    const [check] = resolveChecks([{ type: "http", url: "http://x/" }], {
      kind: "liveness",
      intervalMs: 30_000,
      timeoutMs: 5000,
      deregisterCriticalAfterMs: 600_000,
    });
    expect(check).toMatchObject({
      name: "http-liveness",
      kind: "liveness",
      intervalMs: 30_000,
      timeoutMs: 5000,
      deregisterCriticalAfterMs: 600_000,
    });
  });

  it("makes repeated names unique with -2, -3 suffixes, leaving explicit unique names alone", () => {
    const defs: CheckDefinition[] = [
      { type: "http", url: "http://x/a" },
      { type: "http", url: "http://x/b" },
      { type: "http", url: "http://x/c", name: "http-readiness-2" },
      { type: "http", url: "http://x/d" },
      { type: "tcp", name: "db" },
      { type: "tcp", name: "db" },
      { type: "tcp", kind: "liveness" },
    ];
    expect(resolveChecks(defs).map((c) => c.name)).toEqual([
      "http-readiness",
      "http-readiness-3",
      "http-readiness-2",
      "http-readiness-4",
      "db",
      "db-2",
      "tcp-liveness",
    ]);
  });

  it("refuses an interval below 100 ms or above a day, a timeout of 0 and a negative deregistration delay, naming each path", () => {
    expect(
      issuesOf(() =>
        resolveChecks([
          { type: "http", url: "http://x/", intervalMs: 99 },
          { type: "tcp", intervalMs: 100 },
          { type: "tcp", intervalMs: 86_400_001 },
          { type: "tcp", timeoutMs: 0 },
          { type: "ttl", deregisterCriticalAfterMs: -1 },
          { type: "tcp", intervalMs: Number.NaN },
        ]),
      ),
    ).toEqual([
      "checks[0].intervalMs: must be from 100 to 86400000 ms, got 99",
      "checks[2].intervalMs: must be from 100 to 86400000 ms, got 86400001",
      "checks[3].timeoutMs: must be more than 0 ms, got 0",
      "checks[4].deregisterCriticalAfterMs: must be from 0 to 86400000 ms, got -1",
      "checks[5].intervalMs: must be from 100 to 86400000 ms, got NaN",
    ]);
  });

  it("throws an instance of RegistryInvalidRequestError", () => {
    expect(() => resolveChecks([{ type: "tcp", intervalMs: 10 }])).toThrow(RegistryInvalidRequestError);
  });

  it("refuses bad defaults with a ConfigError", () => {
    let error: unknown;
    try {
      resolveChecks([], { intervalMs: 50 });
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error)).toBe(true);
    expect(String(error)).toContain("intervalMs");
  });

  it("resolves no checks to none", () => {
    expect(resolveChecks([])).toEqual([]);
  });
});
