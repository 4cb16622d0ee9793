import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseBreakerStates } from "../src/commands/breakers-command.js";
import {
  CliErrorCode,
  defineSystem,
  findConfigFile,
  loadSystemConfig,
  parseSystemConfig,
} from "../src/index.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-config-"));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("parseSystemConfig", () => {
  it("fills in the defaults", () => {
    const config = parseSystemConfig({ name: "shop", services: { orders: { main: "./orders.ts" } } });
    expect(config).toEqual({
      name: "shop",
      stateDir: ".flotilla",
      database: { port: 54_329 },
      messaging: { transport: "postgres" },
      registry: { port: 8500 },
      collector: { port: 4318 },
      services: { orders: { main: "./orders.ts", instances: 1, env: {} } },
    });
  });

  it("names the path of every problem", () => {
    let caught: unknown;
    try {
      parseSystemConfig({
        name: "shop",
        database: { url: "mysql://x" },
        messaging: { transport: "kafka" },
        gateway: { port: 70_000 },
        services: { orders: { main: "", instances: 0, extra: true } },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: CliErrorCode.ConfigInvalid });
    const message = (caught as Error).message;
    for (const path of [
      "database.url",
      "messaging.transport",
      "gateway.port",
      "gateway.config",
      "services.orders.main",
      "services.orders.instances",
      "services.orders",
    ]) {
      expect(message).toContain(`  ${path}: `);
    }
    expect(message).toMatch(/services\.orders: .*extra/);
  });

  it("refuses a system without services and unknown top-level keys", () => {
    expect(() => parseSystemConfig({ name: "shop", services: {}, colour: "blue" })).toThrow(
      /services: at least one service[\s\S]*\(root\): .*colour|\(root\): .*colour[\s\S]*services: at least one service/,
    );
  });

  it("defineSystem returns its argument", () => {
    const config = { name: "shop", services: { a: { main: "a.ts" } } };
    expect(defineSystem(config)).toBe(config);
  });
});

describe("loadSystemConfig and findConfigFile", () => {
  it("finds flotilla.config.yaml in a directory above and resolves paths against it", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "a", "b"), { recursive: true });
    await writeFile(
      join(dir, "flotilla.config.yaml"),
      "name: shop\ngateway: { config: ./gateway.yaml }\nservices:\n  orders: { main: ./orders/main.ts, instances: 2 }\n",
    );
    const file = findConfigFile(join(dir, "a", "b"));
    expect(file).toBe(join(dir, "flotilla.config.yaml"));
    const config = await loadSystemConfig(file);
    expect(config.stateDir).toBe(join(dir, ".flotilla"));
    expect(config.gateway).toEqual({ port: 8080, config: join(dir, "gateway.yaml") });
    expect(config.services.orders).toEqual({ main: join(dir, "orders", "main.ts"), instances: 2, env: {} });
  });

  it("loads the default export of flotilla.config.ts", async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, "flotilla.config.ts"),
      'export default { name: "ts-shop", stateDir: "state", services: { users: { main: "/abs/users.ts" } } };\n',
    );
    const config = await loadSystemConfig(findConfigFile(dir));
    expect(config.name).toBe("ts-shop");
    expect(config.stateDir).toBe(join(dir, "state"));
    expect(config.services.users?.main).toBe("/abs/users.ts");
  });

  it("says clearly when there is no config, or it is not valid YAML", async () => {
    const dir = await tempDir();
    expect(() => findConfigFile(dir, "missing.yaml")).toThrow(/missing\.yaml does not exist/);
    await writeFile(join(dir, "bad.yaml"), "name: [unclosed\n");
    await expect(loadSystemConfig(join(dir, "bad.yaml"))).rejects.toThrow(/bad\.yaml is not valid YAML/);
    await writeFile(join(dir, "invalid.yaml"), "name: shop\nservices: { orders: { instances: 2 } }\n");
    await expect(loadSystemConfig(join(dir, "invalid.yaml"))).rejects.toThrow(/services\.orders\.main: /);
  });
});

describe("parseBreakerStates", () => {
  it("reads the state at 1 of each breaker", () => {
    const metrics = [
      "# HELP flotilla_circuitbreaker_state …",
      'flotilla_circuitbreaker_state{service="orders",name="payments",state="closed"} 0',
      'flotilla_circuitbreaker_state{service="orders",name="payments",state="open"} 1',
      'flotilla_circuitbreaker_state{service="orders",name="stock",state="closed"} 1',
      'flotilla_circuitbreaker_calls_total{name="payments",kind="failed"} 3',
    ].join("\n");
    expect(parseBreakerStates(metrics)).toEqual([
      { name: "payments", state: "open" },
      { name: "stock", state: "closed" },
    ]);
  });
});
