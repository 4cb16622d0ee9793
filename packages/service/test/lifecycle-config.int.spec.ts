import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyEnvOverrides, envLeaves, loadServiceConfig } from "../src/lifecycle/load-service-config.js";
import { parseServiceConfig } from "../src/lifecycle/service-config.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-service-config-"));
  dirs.push(dir);
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function issuesOf(error: unknown): { path: string; message: string }[] {
  expect(error).toMatchObject({ code: "FLT_CONFIG_INVALID" });
  return (error as { issues: { path: string; message: string }[] }).issues;
}

describe("service config", () => {
  it("fills every default, with durations in milliseconds", () => {
    const config = parseServiceConfig({});
    expect(config).toEqual({
      host: "127.0.0.1",
      port: 0,
      tags: [],
      workers: 1,
      wire: true,
      database: { poolSize: 10 },
      dependencies: {},
      limits: { bodyLimit: 1_048_576, maxTimeout: 60_000 },
      idempotency: { window: 86_400_000, lockTimeout: 60_000, store: "auto", maxEntries: 10_000 },
      shutdown: { linger: 1_000, drainTimeout: 10_000 },
      telemetry: { enabled: true },
      log: {},
    });
  });

  it("names every bad value and unknown key by its exact path", () => {
    let error: unknown;
    try {
      parseServiceConfig({
        port: 70_000,
        registry: { url: "ftp://x", ttl: "soon" },
        limits: { bodyLimit: 0, maxTimout: "1s" },
        dependencies: { inventory: { versions: "^1", required: "yes" } },
        telemetry: { sampleRatio: 2 },
      });
    } catch (caught) {
      error = caught;
    }
    expect(issuesOf(error).map((i) => i.path)).toEqual([
      "port",
      "registry.url",
      "registry.ttl",
      "dependencies.inventory.required",
      "limits.bodyLimit",
      "limits.maxTimout",
      "telemetry.sampleRatio",
    ]);
    expect(issuesOf(error).find((i) => i.path === "limits.maxTimout")?.message).toBe("unknown option");
    expect(issuesOf(error).find((i) => i.path === "registry.ttl")?.message).toMatch(/duration/);
  });

  it("derives one FLOTILLA_* variable per setting", () => {
    const names = envLeaves.map((l) => l.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "FLOTILLA_PORT",
        "FLOTILLA_HOST",
        "FLOTILLA_REGISTRY_URL",
        "FLOTILLA_DATABASE_URL",
        "FLOTILLA_DATABASE_ADMIN_URL",
        "FLOTILLA_LIMITS_BODY_LIMIT",
        "FLOTILLA_LIMITS_MAX_TIMEOUT",
        "FLOTILLA_SHUTDOWN_DRAIN_TIMEOUT",
        "FLOTILLA_TELEMETRY_ENABLED",
        "FLOTILLA_LOG_LEVEL",
      ]),
    );
    expect(names.some((n) => n.startsWith("FLOTILLA_DEPENDENCIES"))).toBe(false);
  });

  it("applies environment overrides over the file, converting their text", async () => {
    const path = await file(
      "inventory.json",
      JSON.stringify({
        port: 8080,
        registry: { url: "http://registry:8500", ttl: "20s" },
        limits: { bodyLimit: 2048 },
        dependencies: { payments: { versions: "^2.0.0", required: true, policies: { timeout: "2s" } } },
      }),
    );
    const config = await loadServiceConfig({
      file: path,
      env: {
        FLOTILLA_PORT: "9090",
        FLOTILLA_REGISTRY_URL: "http://r1:8500, http://r2:8500",
        FLOTILLA_LIMITS_MAX_TIMEOUT: "5s",
        FLOTILLA_SHUTDOWN_LINGER: "250",
        FLOTILLA_TELEMETRY_ENABLED: "false",
        FLOTILLA_TAGS: "blue,canary",
        UNRELATED: "x",
      },
    });
    expect(config).toMatchObject({
      port: 9090,
      tags: ["blue", "canary"],
      registry: { url: ["http://r1:8500", "http://r2:8500"], ttl: 20_000, checkInterval: 5_000 },
      limits: { bodyLimit: 2048, maxTimeout: 5_000 },
      shutdown: { linger: 250 },
      telemetry: { enabled: false },
      dependencies: { payments: { versions: "^2.0.0", required: true, policies: { timeout: "2s" } } },
    });
  });

  it("reads FLOTILLA_CONFIG and names the variable of a bad value", async () => {
    const path = await file("c.json", JSON.stringify({ port: 1 }));
    let error: unknown;
    try {
      await loadServiceConfig({
        env: { FLOTILLA_CONFIG: path, FLOTILLA_PORT: "eighty", FLOTILLA_REGISTRY_URL: "nope" },
      });
    } catch (caught) {
      error = caught;
    }
    const issues = issuesOf(error);
    expect(issues.find((i) => i.path === "port")?.message).toMatch(/\(from FLOTILLA_PORT\)$/);
    expect(issues.find((i) => i.path === "registry.url")?.message).toMatch(/\(from FLOTILLA_REGISTRY_URL\)$/);
  });

  it("reads a YAML file, with environment overrides on top", async () => {
    const path = await file(
      "service.yaml",
      "port: 8081\nregistry:\n  url: http://127.0.0.1:8500\n  ttl: 15s\ndependencies:\n  inventory: { versions: ^1.0.0, required: true }\n",
    );
    const config = await loadServiceConfig({ file: path, env: { FLOTILLA_PORT: "9090" } });
    expect(config.port).toBe(9090);
    expect(config.registry?.ttl).toBe(15_000);
    expect(config.dependencies.inventory).toMatchObject({ versions: "^1.0.0", required: true });
  });

  it("refuses an unreadable, malformed JSON or YAML, or non-object file, naming it", async () => {
    const bad = await file("bad.json", "{ port: 1 ");
    const array = await file("array.json", "[]");
    const badYaml = await file("bad.yaml", "port: [1, 2\n  host: x");
    const typo = await file("typo.yml", "prot: 8080\n");
    for (const [options, message, path] of [
      [{ file: bad, env: {} }, /bad\.json is not valid JSON/, "(file)"],
      [{ file: array, env: {} }, /must hold an object/, "(file)"],
      [{ file: join(tmpdir(), "flotilla-missing-config.json"), env: {} }, /cannot read/, "(file)"],
      [{ file: badYaml, env: {} }, /bad\.yaml is not valid YAML/, "(file)"],
      [{ file: typo, env: {} }, /unknown|unrecognized/i, "prot"],
    ] as const) {
      let error: unknown;
      try {
        await loadServiceConfig(options);
      } catch (caught) {
        error = caught;
      }
      expect(issuesOf(error)[0]).toMatchObject({ path, message: expect.stringMatching(message) });
    }
  });

  it("leaves the base object untouched", () => {
    const base = { limits: { bodyLimit: 1 } };
    const { config, sources } = applyEnvOverrides(base, { FLOTILLA_LIMITS_BODY_LIMIT: "7" });
    expect(config).toEqual({ limits: { bodyLimit: 7 } });
    expect(base).toEqual({ limits: { bodyLimit: 1 } });
    expect(sources.get("limits.bodyLimit")).toBe("FLOTILLA_LIMITS_BODY_LIMIT");
  });
});
