import { describe, expect, it } from "vitest";
import { GatewayErrorCode, isGatewayError } from "../src/chain/gateway-error.js";
import {
  type MergedOpenApiDocument,
  mergeOpenApi,
  type OpenApiMergeInput,
} from "../src/openapi/merge-openapi.js";
import type { OpenApiDocument } from "../src/openapi/openapi-document.js";
import { publicPath } from "../src/openapi/public-path.js";

const json = (schema: unknown) => ({ "application/json": { schema } });

/** Like a Fastify + zod generated 3.1 document. */
const usersDocument: OpenApiDocument = {
  openapi: "3.1.0",
  info: { title: "users", version: "1.4.0" },
  servers: [{ url: "http://users.internal:8080" }],
  tags: [{ name: "users", description: "User accounts" }, { name: "internal" }],
  security: [{ bearerAuth: [] }],
  paths: {
    "/users": {
      get: {
        operationId: "listUsers",
        tags: ["users"],
        parameters: [{ $ref: "#/components/parameters/Limit" }],
        responses: {
          "200": {
            description: "Users",
            content: json({ type: "array", items: { $ref: "#/components/schemas/User" } }),
          },
          default: { $ref: "#/components/responses/Problem" },
        },
      },
      post: {
        operationId: "createUser",
        tags: ["users"],
        security: [],
        servers: [{ url: "http://users-write.internal:8080" }],
        requestBody: { $ref: "#/components/requestBodies/NewUser" },
        responses: {
          "201": {
            description: "Created",
            content: json({ $ref: "#/components/schemas/User" }),
            links: { self: { operationId: "getUser", parameters: { id: "$response.body#/id" } } },
          },
        },
      },
    },
    "/users/{id}": {
      summary: "One user",
      parameters: [
        { name: "id", in: "path", required: true, schema: { type: "string" } },
        { name: "x-tenant", in: "header", schema: { type: "string" } },
      ],
      get: {
        operationId: "getUser",
        tags: ["users"],
        parameters: [
          { name: "x-tenant", in: "header", required: true, schema: { type: "string", minLength: 1 } },
        ],
        responses: {
          "200": { description: "The user", content: json({ $ref: "#/components/schemas/User" }) },
          "404": { $ref: "#/components/responses/Problem" },
        },
      },
      delete: {
        operationId: "deleteUser",
        tags: ["internal"],
        responses: { "204": { description: "Gone" } },
      },
    },
    "/internal/reindex": {
      post: {
        operationId: "reindex",
        tags: ["internal"],
        requestBody: { content: json({ $ref: "#/components/schemas/ReindexJob" }) },
        responses: { "202": { description: "Queued" } },
      },
    },
  },
  components: {
    schemas: {
      User: {
        type: "object",
        properties: {
          id: { type: "string" },
          address: { $ref: "#/components/schemas/Address" },
          pet: { $ref: "#/components/schemas/Pet" },
          // A property named like a keyword is a name, not a keyword.
          operationId: { type: "string" },
          friends: { type: "array", items: { $ref: "#/components/schemas/User" } },
        },
        required: ["id"],
      },
      Address: { type: "object", properties: { city: { type: "string" } } },
      Pet: {
        oneOf: [{ $ref: "#/components/schemas/Dog" }, { $ref: "#/components/schemas/Cat" }],
        discriminator: { propertyName: "kind", mapping: { dog: "#/components/schemas/Dog", cat: "Cat" } },
      },
      Dog: { type: "object", properties: { kind: { const: "dog" } } },
      Cat: { type: "object", properties: { kind: { const: "cat" } } },
      "createUser.body": {
        type: "object",
        properties: { name: { type: "string" }, address: { $ref: "#/components/schemas/Address" } },
      },
      Problem: { type: "object", properties: { code: { type: "string" } } },
      ReindexJob: { type: "object", properties: { full: { type: "boolean" } } },
    },
    parameters: { Limit: { name: "limit", in: "query", schema: { type: "integer" } } },
    responses: {
      Problem: {
        description: "A problem",
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      },
    },
    requestBodies: { NewUser: { content: json({ $ref: "#/components/schemas/createUser.body" }) } },
    securitySchemes: {
      bearerAuth: { type: "http", scheme: "bearer" },
      internalKey: { type: "apiKey", in: "header", name: "x-key" },
    },
  },
};

/** A 3.0 document whose service serves under `/v1`. */
const ordersDocument: OpenApiDocument = {
  openapi: "3.0.3",
  info: { title: "orders", version: "2.0.0" },
  tags: [
    { name: "users", description: "Not the first description" },
    { name: "orders", description: "Orders" },
  ],
  paths: {
    "/v1/orders": {
      get: {
        operationId: "listOrders",
        tags: ["orders"],
        responses: {
          "200": {
            description: "Orders",
            content: json({ type: "array", items: { $ref: "#/components/schemas/Order" } }),
          },
        },
      },
      post: {
        operationId: "createOrder",
        tags: ["orders"],
        requestBody: {
          content: {
            "application/json": {
              schema: { $ref: "#/components/schemas/Order" },
              examples: { big: { value: { $ref: "not a reference", total: 1000 } } },
            },
          },
        },
        responses: {
          "201": { description: "Created", content: json({ $ref: "#/components/schemas/Order" }) },
        },
      },
    },
    "/v1/orders/{orderId}": {
      get: {
        operationId: "getOrder",
        parameters: [{ name: "orderId", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": { description: "The order", content: json({ $ref: "#/components/schemas/Order" }) },
        },
      },
    },
    "/v1/users/{userId}": {
      get: {
        operationId: "getUser",
        responses: {
          "200": {
            description: "Order view of a user",
            content: json({ $ref: "#/components/schemas/User" }),
          },
        },
      },
      patch: {
        operationId: "patchUser",
        responses: {
          "200": { description: "Patched", content: json({ $ref: "#/components/schemas/User" }) },
        },
      },
    },
    "/metrics": { get: { operationId: "metrics", responses: { "200": { description: "Metrics" } } } },
  },
  components: {
    schemas: {
      User: { type: "object", properties: { userId: { type: "string" }, orders: { type: "integer" } } },
      Order: {
        type: "object",
        properties: {
          id: { type: "string" },
          total: { type: "number", minimum: 0, exclusiveMinimum: true },
          note: { type: "string", nullable: true },
          status: { type: "string", enum: ["open", "paid"], nullable: true },
          customer: { allOf: [{ $ref: "#/components/schemas/User" }], nullable: true },
        },
        example: { $ref: "#/also/not/a/reference", id: "o-1" },
      },
    },
  },
};

/** What the gateway's routes serve: everything of both but the internal users endpoints. */
function isExposed(method: string, path: string): boolean {
  if (path.startsWith("/api/internal/")) return false;
  return !(method === "DELETE" && path === "/api/users/{id}");
}

const inputs: OpenApiMergeInput[] = [
  { upstream: "users", document: usersDocument, exposedAs: { prefix: "/api" } },
  { upstream: "orders", document: ordersDocument, exposedAs: { prefix: "/api/", stripPrefix: "/v1" } },
];

function merge(): MergedOpenApiDocument {
  return mergeOpenApi(inputs, { title: "Flotilla API", version: "2025.1" }, { isExposed });
}

/** Resolves a local JSON Pointer reference the way an OpenAPI tool does (RFC 6901). */
function resolveRef(document: unknown, ref: string): unknown {
  expect(ref.startsWith("#/"), ref).toBe(true);
  let value: unknown = document;
  for (const token of ref.slice(2).split("/")) {
    const name = decodeURIComponent(token).replaceAll("~1", "/").replaceAll("~0", "~");
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, name)) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  return value;
}

/** Every value under `key` anywhere in `value`, skipping example data. */
function collect(value: unknown, key: string, found: unknown[] = [], inExample = false): unknown[] {
  if (Array.isArray(value)) for (const item of value) collect(item, key, found, inExample);
  else if (typeof value === "object" && value !== null) {
    for (const [k, item] of Object.entries(value)) {
      const example = inExample || k === "example" || k === "examples";
      if (k === key && !example) found.push(item);
      else collect(item, key, found, example);
    }
  }
  return found;
}

type Operation = {
  operationId?: string;
  parameters?: Array<Record<string, unknown>>;
  security?: unknown;
  servers?: unknown;
};

function operation(document: MergedOpenApiDocument, path: string, method: string): Operation {
  const op = document.paths[path]?.[method];
  expect(op, `${method} ${path}`).toBeDefined();
  return op as Operation;
}

describe("mergeOpenApi", () => {
  it("moves every path to its public path and drops what the gateway does not serve", () => {
    const merged = merge();
    expect(merged.openapi).toBe("3.1.0");
    expect(merged.info).toEqual({ title: "Flotilla API", version: "2025.1" });
    expect(Object.keys(merged.paths).sort()).toEqual([
      "/api/orders",
      "/api/orders/{orderId}",
      "/api/users",
      "/api/users/{id}",
    ]);
    expect(Object.keys(merged.paths["/api/users/{id}"]!).sort()).toEqual(["get", "summary"]);
    expect(Object.keys(merged.paths["/api/users"]!).sort()).toEqual(["get", "post"]);
  });

  it("resolves every $ref and discriminator mapping of the merged document to an existing component", () => {
    const merged = merge();
    const refs = collect(merged, "$ref");
    expect(refs.length).toBeGreaterThan(15);
    for (const ref of refs) {
      expect(typeof ref).toBe("string");
      expect(resolveRef(merged, ref as string), `${ref as string} resolves`).toBeDefined();
    }
    const pet = (
      merged.components!.schemas as Record<string, { discriminator?: { mapping: Record<string, string> } }>
    )["users.Pet"]!;
    expect(pet.discriminator!.mapping).toEqual({ dog: "#/components/schemas/users.Dog", cat: "users.Cat" });
    expect(resolveRef(merged, `#/components/schemas/${pet.discriminator!.mapping.cat!}`)).toBeDefined();
  });

  it("namespaces component names so equal names from two upstreams both survive", () => {
    const merged = merge();
    const schemas = merged.components!.schemas as Record<string, { properties?: Record<string, unknown> }>;
    expect(Object.keys(schemas["users.User"]!.properties!)).toContain("address");
    expect(Object.keys(schemas["orders.User"]!.properties!)).toContain("orders");
    expect(schemas["users.createUser.body"]).toBeDefined();
    expect(merged.components?.responses).toHaveProperty(["users.Problem"]);
    expect(merged.components?.parameters).toHaveProperty(["users.Limit"]);
    expect(merged.components?.requestBodies).toHaveProperty(["users.NewUser"]);
  });

  it("leaves out components only unserved operations use", () => {
    const merged = merge();
    const schemas = merged.components!.schemas as Record<string, unknown>;
    expect(schemas).not.toHaveProperty(["users.ReindexJob"]);
    expect(schemas).toHaveProperty(["users.Dog"]);
    expect(merged.components?.securitySchemes).toEqual({
      "users.bearerAuth": { type: "http", scheme: "bearer" },
    });
  });

  it("gives every operation a unique operationId, links included", () => {
    const merged = merge();
    const ids = Object.values(merged.paths).flatMap((item) =>
      Object.values(item).flatMap((op) =>
        typeof op === "object" && op !== null ? [(op as Operation).operationId] : [],
      ),
    );
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining(["users.listUsers", "users.getUser", "orders.listOrders", "orders.getOrder"]),
    );
    expect(ids).not.toContain("orders.getUser");
    const created = operation(merged, "/api/users", "post") as {
      responses: Record<string, { links: Record<string, unknown> }>;
    };
    expect(created.responses["201"]!.links.self).toMatchObject({ operationId: "users.getUser" });
    const user = (merged.components!.schemas as Record<string, { properties: Record<string, unknown> }>)[
      "users.User"
    ]!;
    expect(user.properties.operationId).toEqual({ type: "string" });
  });

  it("lists operations two upstreams document at the same public path instead of overwriting", () => {
    const merged = merge();
    expect(merged["x-flotilla-conflicts"]).toEqual([
      {
        method: "GET",
        path: "/api/users/{id}",
        kept: "users",
        dropped: "orders",
        droppedPath: "/api/users/{userId}",
      },
      {
        method: "PATCH",
        path: "/api/users/{id}",
        kept: "users",
        dropped: "orders",
        droppedPath: "/api/users/{userId}",
      },
    ]);
    expect(operation(merged, "/api/users/{id}", "get").operationId).toBe("users.getUser");
    expect(merged.paths).not.toHaveProperty(["/api/users/{userId}"]);
  });

  it("reports an empty conflict list when there is none", () => {
    const merged = mergeOpenApi([inputs[0]!], { title: "t", version: "1" });
    expect(merged["x-flotilla-conflicts"]).toEqual([]);
    // Without a predicate everything under the prefix is served.
    expect(merged.paths).toHaveProperty(["/api/internal/reindex"]);
    expect(merged.components?.schemas).toHaveProperty(["users.ReindexJob"]);
  });

  it("moves path-item parameters and the default security into operations, and drops servers", () => {
    const merged = merge();
    const get = operation(merged, "/api/users/{id}", "get");
    expect(get.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string" } },
      { name: "x-tenant", in: "header", required: true, schema: { type: "string", minLength: 1 } },
    ]);
    expect(get.security).toEqual([{ "users.bearerAuth": [] }]);
    expect(operation(merged, "/api/users", "post").security).toEqual([]);
    expect(operation(merged, "/api/users", "post").servers).toBeUndefined();
    expect(merged).not.toHaveProperty("servers");
    expect(operation(merged, "/api/orders", "get").security).toBeUndefined();
  });

  it("merges tags by name, first description first, keeping only used ones", () => {
    const merged = merge();
    expect(merged.tags).toEqual([
      { name: "users", description: "User accounts" },
      { name: "orders", description: "Orders" },
    ]);
  });

  it("upgrades 3.0 schema keywords to 3.1 and leaves example data alone", () => {
    const merged = merge();
    const order = (merged.components!.schemas as Record<string, Record<string, Record<string, unknown>>>)[
      "orders.Order"
    ]!;
    expect(order.properties!.total).toEqual({ type: "number", exclusiveMinimum: 0 });
    expect(order.properties!.note).toEqual({ type: ["string", "null"] });
    expect(order.properties!.status).toEqual({ type: ["string", "null"], enum: ["open", "paid", null] });
    expect(order.properties!.customer).toEqual({
      anyOf: [{ allOf: [{ $ref: "#/components/schemas/orders.User" }] }, { type: "null" }],
    });
    expect(order.example).toEqual({ $ref: "#/also/not/a/reference", id: "o-1" });
    const post = operation(merged, "/api/orders", "post") as {
      requestBody: { content: Record<string, { examples: Record<string, unknown> }> };
    };
    expect(post.requestBody.content["application/json"]!.examples.big).toEqual({
      value: { $ref: "not a reference", total: 1000 },
    });
  });

  it("never changes its inputs", () => {
    const before = structuredClone(inputs);
    const freeze = (value: unknown): void => {
      if (typeof value !== "object" || value === null) return;
      Object.freeze(value);
      for (const item of Object.values(value)) freeze(item);
    };
    const frozen = structuredClone(inputs);
    freeze(frozen);
    expect(() => mergeOpenApi(frozen, { title: "t", version: "1" }, { isExposed })).not.toThrow();
    merge();
    expect(inputs).toEqual(before);
  });

  it("follows a local path item $ref", () => {
    const document: OpenApiDocument = {
      openapi: "3.1.0",
      info: { title: "t", version: "1" },
      paths: { "/ping": { $ref: "#/components/pathItems/Ping" } },
      components: {
        pathItems: {
          Ping: {
            get: { operationId: "ping", responses: { "200": { $ref: "#/components/responses/Pong" } } },
          },
        },
        responses: { Pong: { description: "pong" } },
      },
    };
    const merged = mergeOpenApi([{ upstream: "pinger", document, exposedAs: { prefix: "/p" } }], {
      title: "t",
      version: "1",
    });
    expect(operation(merged, "/p/ping", "get").operationId).toBe("pinger.ping");
    expect(merged.components).toEqual({ responses: { "pinger.Pong": { description: "pong" } } });
  });

  it("refuses a document that is not OpenAPI 3.x and upstream names that share a namespace", () => {
    const refused = (run: () => unknown): string => {
      try {
        run();
      } catch (error) {
        expect(isGatewayError(error)).toBe(true);
        expect((error as { code: string }).code).toBe(GatewayErrorCode.ConfigInvalid);
        return (error as Error).message;
      }
      throw new Error("expected a refusal");
    };
    const swagger = { swagger: "2.0", info: { title: "t", version: "1" } } as unknown as OpenApiDocument;
    expect(
      refused(() =>
        mergeOpenApi([{ upstream: "old", document: swagger, exposedAs: { prefix: "/" } }], {
          title: "t",
          version: "1",
        }),
      ),
    ).toContain("old");
    const twins: OpenApiMergeInput[] = [
      { upstream: "a.b", document: usersDocument, exposedAs: { prefix: "/x" } },
      { upstream: "a_b", document: ordersDocument, exposedAs: { prefix: "/y" } },
    ];
    expect(refused(() => mergeOpenApi(twins, { title: "t", version: "1" }))).toContain("a_b");
  });
});

describe("publicPath", () => {
  it("puts the prefix in front", () => {
    expect(publicPath("/users/{id}", { prefix: "/api" })).toBe("/api/users/{id}");
    expect(publicPath("/users", { prefix: "/" })).toBe("/users");
    expect(publicPath("/users", { prefix: "api/" })).toBe("/api/users");
  });

  it("takes stripPrefix off at a segment boundary only", () => {
    expect(publicPath("/v1/users", { prefix: "/api", stripPrefix: "/v1" })).toBe("/api/users");
    expect(publicPath("/v1", { prefix: "/api", stripPrefix: "/v1/" })).toBe("/api");
    expect(publicPath("/v1", { prefix: "", stripPrefix: "/v1" })).toBe("/");
    expect(publicPath("/v10/users", { prefix: "/api", stripPrefix: "/v1" })).toBeUndefined();
    expect(publicPath("/metrics", { prefix: "/api", stripPrefix: "/v1" })).toBeUndefined();
  });
});
