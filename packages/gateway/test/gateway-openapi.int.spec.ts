// The merged OpenAPI document the gateway serves, from upstreams' own documents.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "../src/server/gateway.js";

const usersDoc = {
  openapi: "3.1.0",
  info: { title: "users", version: "1.0.0" },
  paths: {
    "/users/{id}": {
      get: {
        operationId: "getUser",
        responses: {
          "200": {
            description: "ok",
            content: { "application/json": { schema: { $ref: "#/components/schemas/User" } } },
          },
        },
      },
    },
    "/internal/stats": { get: { operationId: "stats", responses: { "200": { description: "ok" } } } },
  },
  components: { schemas: { User: { type: "object", properties: { id: { type: "string" } } } } },
};

let users: Server;
let gateway: Gateway;
let documentRequests = 0;

beforeAll(async () => {
  users = createServer((req, res) => {
    if (req.url === "/openapi.json") {
      documentRequests++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(usersDoc));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => users.listen(0, "127.0.0.1", resolve));
  const port = (users.address() as AddressInfo).port;
  gateway = await startGateway({
    config: {
      listen: { port: 0 },
      accessLog: false,
      upstreams: { users: { urls: [`http://127.0.0.1:${port}`] }, gone: { urls: ["http://127.0.0.1:1"] } },
      routes: [
        {
          id: "users",
          match: { path: { prefix: "/api/users" } },
          rewrite: { prefix: { from: "/api", to: "/" } },
          upstream: "users",
        },
        { id: "gone", match: { path: { prefix: "/api/gone" } }, upstream: "gone" },
      ],
      openapi: {
        title: "Shop API",
        version: "2.0.0",
        sources: [
          { upstream: "users", prefix: "/api" },
          { upstream: "gone", prefix: "/api/gone" },
        ],
      },
    },
  });
});
afterAll(async () => {
  await gateway.close(1_000);
  users.closeAllConnections();
  await new Promise((resolve) => users.close(resolve));
});

describe("merged OpenAPI document", () => {
  it("lists only the routed operations under their public paths, with namespaced components", async () => {
    const res = await fetch(`${gateway.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      info: { title: string; version: string };
      paths: Record<string, Record<string, { operationId: string }>>;
      components: { schemas: Record<string, unknown> };
      "x-flotilla-missing"?: string[];
    };
    expect(doc.info).toMatchObject({ title: "Shop API", version: "2.0.0" });
    expect(Object.keys(doc.paths)).toEqual(["/api/users/{id}"]);
    expect(doc.paths["/api/users/{id}"]!.get!.operationId).toBe("users.getUser");
    expect(Object.keys(doc.components.schemas)).toEqual(["users.User"]);
    expect(doc["x-flotilla-missing"]).toEqual(["gone"]);
  });

  it("serves the merged document from its cache until it is due for a refresh", async () => {
    const before = documentRequests;
    await fetch(`${gateway.url}/openapi.json`).then((r) => r.arrayBuffer());
    await fetch(`${gateway.url}/openapi.json`).then((r) => r.arrayBuffer());
    expect(documentRequests).toBe(before);
  });
});
