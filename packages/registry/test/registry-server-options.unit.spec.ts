import { configIssues } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import { parseRegistryMainOptions } from "../src/server/registry-main-options.js";
import {
  parseRegistryServerOptions,
  type RegistryServerOptions,
} from "../src/server/registry-server-options.js";
import type { Store } from "../src/store/store.js";

const store = {
  kind: "fake",
  watch: () => ({ close() {} }),
  keepAlive: async () => true,
} as unknown as Store;

describe("registry server options", () => {
  it("applies the defaults", () => {
    const o = parseRegistryServerOptions({ store });
    expect(o.limits).toMatchObject({
      maxInstances: 10_000,
      registrationRate: 1_000,
      registrationBurst: 2_000,
      maxStreams: 10_000,
    });
    expect(o.defaultWaitMs).toBe(30_000);
    expect(o.maxWaitMs).toBe(300_000);
    expect(o.selfPreservation).toEqual({ threshold: 0.5, windowMs: 30_000, minLeases: 5 });
  });

  it("names every bad option by path", () => {
    const issues = configIssues(() =>
      parseRegistryServerOptions({
        store: undefined,
        limits: { maxInstances: 0, typo: 1 },
        selfPreservation: { threshold: 2, window: "1500ms" },
        defaultWait: "10m",
        colour: "red",
      } as unknown as RegistryServerOptions),
    );
    expect(issues.map((i) => i.split(":")[0])).toEqual(
      expect.arrayContaining([
        "store",
        "limits.maxInstances",
        "limits.typo",
        "selfPreservation.threshold",
        "selfPreservation.window",
        "defaultWait",
        "colour",
      ]),
    );
  });

  it("turns self-preservation off with false", () => {
    expect(parseRegistryServerOptions({ store, selfPreservation: false }).selfPreservation).toBe(false);
  });
});

describe("registry-main flags", () => {
  it("reads flags before the environment and applies defaults", () => {
    expect(parseRegistryMainOptions([], {})).toEqual({
      port: 8500,
      host: "127.0.0.1",
      dataDir: undefined,
      etcd: undefined,
      selfPreservationThreshold: 0.5,
      help: false,
    });
    const o = parseRegistryMainOptions(["--port", "9000", "--etcd", "http://a:2379, http://b:2379"], {
      FLOTILLA_REGISTRY_PORT: "9100",
      FLOTILLA_REGISTRY_HOST: "0.0.0.0",
      FLOTILLA_REGISTRY_SELF_PRESERVATION_THRESHOLD: "off",
    });
    expect(o).toMatchObject({
      port: 9000,
      host: "0.0.0.0",
      etcd: ["http://a:2379", "http://b:2379"],
      selfPreservationThreshold: false,
    });
  });

  it("names each bad flag or variable", () => {
    expect(configIssues(() => parseRegistryMainOptions(["--port", "http"], {}))).toEqual([
      '--port: expected a port from 0 to 65535, got "http"',
    ]);
    expect(configIssues(() => parseRegistryMainOptions([], { FLOTILLA_REGISTRY_PORT: "70000" }))[0]).toMatch(
      /^FLOTILLA_REGISTRY_PORT:/,
    );
    expect(
      configIssues(() => parseRegistryMainOptions(["--data-dir", "/d", "--etcd", "http://e:2379"], {}))[0],
    ).toMatch(/^--data-dir: choose one store/);
    expect(
      configIssues(() => parseRegistryMainOptions(["--self-preservation-threshold", "1.5"], {}))[0],
    ).toMatch(/^--self-preservation-threshold:/);
    expect(configIssues(() => parseRegistryMainOptions(["--nope"], {}))[0]).toMatch(/^argv:/);
  });
});
