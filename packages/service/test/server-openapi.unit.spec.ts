import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineContract } from "../src/contract/define-contract.js";
import { route } from "../src/contract/route.js";
import { openApiPath, serviceOpenApi } from "../src/server/service-openapi.js";
import { inventory } from "./fixtures/inventory-service.js";

// biome-ignore lint/suspicious/noExplicitAny: walking an untyped JSON document.
type Json = Record<string, any>;

/** Every `$ref` in the document, which must all point at something in it. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) refs(item, out);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string") out.push(item);
      else refs(item, out);
    }
  }
  return out;
}

function resolve(doc: Json, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  return ref
    .slice(2)
    .split("/")
    .reduce<unknown>((node, part) => (node as Json | undefined)?.[part.replaceAll("~1", "/")], doc);
}

describe("OpenAPI document", () => {
  const doc = serviceOpenApi(inventory) as Json;

  it("is OpenAPI 3.1 with the contract's name and version", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toEqual({ title: "inventory", version: "1.2.0" });
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it("has one operation per route, named after it", () => {
    const operations = Object.entries(doc.paths as Json).flatMap(([path, item]) =>
      Object.entries(item as Json).map(([method, op]) => ({ path, method, id: (op as Json).operationId })),
    );
    expect(operations).toEqual(
      expect.arrayContaining([
        { path: "/reservations/{sku}", method: "post", id: "reserve" },
        { path: "/stock", method: "get", id: "stock" },
        { path: "/reservations/{id}", method: "delete", id: "release" },
        { path: "/stock/{sku}", method: "patch", id: "adjust" },
      ]),
    );
    expect(operations).toHaveLength(Object.keys(inventory.routes).length);
  });

  it("describes parameters, body and responses from the zod schemas", () => {
    const reserve = doc.paths["/reservations/{sku}"].post as Json;
    expect(reserve.summary).toBe("Reserves stock of one SKU.");
    expect(reserve.parameters[0]).toEqual({
      name: "sku",
      in: "path",
      required: true,
      schema: { type: "string", pattern: "^[A-Z]{3}-\\d+$" },
    });
    expect(reserve.parameters).toContainEqual({ $ref: "#/components/parameters/IdempotencyKey" });
    expect(reserve.requestBody).toEqual({
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            properties: {
              quantity: { type: "integer", exclusiveMinimum: 0, maximum: 9007199254740991 },
              note: { type: "string", maxLength: 20 },
            },
            required: ["quantity"],
          },
        },
      },
    });
    expect(Object.keys(reserve.responses).sort()).toEqual(
      ["201", "400", "409", "413", "415", "422", "500", "503", "504"].sort(),
    );
    expect(reserve.responses["201"].content["application/json"].schema).toMatchObject({
      type: "object",
      required: ["reservationId", "quantity"],
    });

    const stock = doc.paths["/stock"].get as Json;
    expect(stock.parameters.slice(0, 2)).toEqual([
      { name: "sku", in: "query", required: false, schema: { type: "string" } },
      {
        name: "limit",
        in: "query",
        required: false,
        schema: expect.objectContaining({ type: "integer", minimum: 1, maximum: 100, default: 10 }),
      },
    ]);
    expect(stock.requestBody).toBeUndefined();
    expect(stock.parameters).not.toContainEqual({ $ref: "#/components/parameters/IdempotencyKey" });
    expect(Object.keys(stock.responses)).toEqual(["200", "400", "500", "503", "504"]);
    expect(doc.paths["/reservations/{id}"].delete.responses["204"]).toEqual({
      description: "Success, no content.",
    });
  });

  it("documents the problem answers, and every $ref resolves", () => {
    expect(doc.components.schemas.Problem.required).toEqual(["type", "title", "status", "code"]);
    expect(doc.components.responses.BadRequest.content["application/problem+json"].schema).toEqual({
      $ref: "#/components/schemas/Problem",
    });
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(10);
    for (const ref of all) expect(resolve(doc, ref), ref).toBeDefined();
  });

  it("moves recursive schemas to components", () => {
    interface Category {
      name: string;
      children: Category[];
    }
    const category: z.ZodType<Category> = z.object({
      name: z.string(),
      get children() {
        return z.array(category);
      },
    });
    const tree = defineContract({
      name: "catalog",
      version: "0.1.0",
      routes: { tree: route({ method: "GET", path: "/tree", response: category }) },
    });
    const catalog = serviceOpenApi(tree) as Json;
    const schema = catalog.paths["/tree"].get.responses["200"].content["application/json"].schema;
    expect(schema).toEqual({ $ref: "#/components/schemas/tree.response" });
    expect(catalog.components.schemas["tree.response"].properties.children.items).toEqual({
      $ref: "#/components/schemas/tree.response",
    });
    for (const ref of refs(catalog)) expect(resolve(catalog, ref), ref).toBeDefined();
  });

  it("turns Fastify paths into OpenAPI paths", () => {
    expect(openApiPath("/a/:id/b/:name(^\\d+$)")).toBe("/a/{id}/b/{name}");
  });
});
