// Configuration mistakes the gateway refuses at load, each named by its path.
import { isConfigError } from "@flotilla/resilience";
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../src/config/gateway-config.js";
import { startGateway } from "../src/server/gateway.js";

async function issuesOf(config: GatewayConfigInput): Promise<{ path: string; message: string }[]> {
  try {
    const gateway = await startGateway({ config: { listen: { port: 0 }, accessLog: false, ...config } });
    await gateway.close(100);
  } catch (error) {
    if (isConfigError(error)) return [...error.issues];
    throw error;
  }
  return [];
}

describe("configuration checks", () => {
  it("refuses a transform that would forge the gateway's identity headers", async () => {
    const issues = await issuesOf({
      upstreams: { u: { urls: ["http://127.0.0.1:9"] } },
      routes: [
        {
          id: "r",
          match: { path: { prefix: "/" } },
          upstream: "u",
          transform: { requestHeaders: { set: { "X-Flotilla-Subject": "admin" } } },
        },
      ],
    });
    expect(issues.map((i) => i.path).join(" ")).toContain("routes.0.transform.requestHeaders.set");
  });

  it("refuses a composite part that names a parameter the route does not have", async () => {
    const issues = await issuesOf({
      upstreams: { u: { urls: ["http://127.0.0.1:9"] } },
      routes: [
        {
          id: "dash",
          match: { path: { template: "/dashboard/:userId" } },
          composite: { parts: [{ name: "orders", upstream: "u", path: "/orders/{user}" }], deadline: "1s" },
        },
      ],
    });
    expect(issues).toContainEqual({
      path: "routes.0.composite.parts",
      message: expect.stringContaining("{user} is not a parameter"),
    });
  });

  it("refuses a route naming an unknown upstream, and an authorize without auth", async () => {
    const issues = await issuesOf({
      upstreams: {},
      routes: [
        { id: "r", match: { path: { prefix: "/" } }, upstream: "nowhere", authorize: { roles: ["admin"] } },
      ],
    });
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(["routes.0.upstream", "routes.0.authorize"]),
    );
  });
});
