import { describe, expect, it } from "vitest";
import { responseShapingLayer } from "../src/transform/response-shaping-layer.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const json = { "content-type": "application/json" };
const order = {
  id: 7,
  status: "open",
  internal: { cost: 3 },
  customer: { name: "Ada", email: "ada@example.com", address: { city: "Paris", street: "x" } },
  items: [{ id: 1, name: "pen", cost: 1 }, { id: 2, name: "ink", cost: 2 }, "legacy", null],
  tags: ["a", "b"],
};

async function shape(
  options: Parameters<typeof responseShapingLayer>[0],
  query = "",
  document: unknown = order,
) {
  const exchange = fakeExchange({ query });
  const response = await responseShapingLayer(options).handle(
    exchange,
    fixedNext(200, JSON.stringify(document), json),
  );
  expect(exchange.bufferResponse).toBe(true);
  expect(response.headers["content-length"]).toBe(String(response.body!.length));
  return JSON.parse(response.body!.toString("utf8"));
}

describe("responseShapingLayer", () => {
  it("keeps only the listed fields, element-wise through arrays", async () => {
    expect(
      await shape({
        fields: ["id", "customer.name", "customer.address.city", "items.id", "tags", "absent.x"],
      }),
    ).toEqual({
      id: 7,
      customer: { name: "Ada", address: { city: "Paris" } },
      items: [{ id: 1 }, { id: 2 }, null],
      tags: ["a", "b"],
    });
  });

  it("applies fields to each element of a top-level array", async () => {
    expect(
      await shape({ fields: ["id"] }, "", [
        { id: 1, x: 1 },
        { id: 2, x: 2 },
      ]),
    ).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it("prunes omitted paths, also after fields", async () => {
    expect(await shape({ omit: ["internal", "customer.email", "items.cost"] })).toEqual({
      id: 7,
      status: "open",
      customer: { name: "Ada", address: { city: "Paris", street: "x" } },
      items: [{ id: 1, name: "pen" }, { id: 2, name: "ink" }, "legacy", null],
      tags: ["a", "b"],
    });
    expect(await shape({ fields: ["customer"], omit: ["customer.address"] })).toEqual({
      customer: { name: "Ada", email: "ada@example.com" },
    });
  });

  it("lets the client narrow the allowed fields through the query parameter", async () => {
    const options = {
      fields: ["id", "status", "customer", "items.id", "items.name"],
      queryParameter: "fields",
    };
    expect(await shape(options, "?fields=id,customer.name,items")).toEqual({
      id: 7,
      customer: { name: "Ada" },
      items: [{ id: 1, name: "pen" }, { id: 2, name: "ink" }, null],
    });
    expect(await shape(options, "?page=2")).toMatchObject({ status: "open", id: 7 });
  });

  it("never widens beyond the allowed fields", async () => {
    const options = { fields: ["id", "items.id"], queryParameter: "fields" };
    expect(await shape(options, "?fields=internal,items.cost,customer")).toEqual({});
    expect(await shape(options, "?fields=items")).toEqual({ items: [{ id: 1 }, { id: 2 }, null] });
    expect(await shape(options, "?fields=id,internal")).toEqual({ id: 7 });
    expect(await shape(options, "?fields=__proto__.x,constructor")).toEqual({});
  });

  it("with only a query parameter, selects what the client asks and keeps omit in force", async () => {
    const options = { omit: ["customer.email"], queryParameter: "only" };
    expect(await shape(options, "?only=customer&only=id")).toEqual({
      id: 7,
      customer: { name: "Ada", address: { city: "Paris", street: "x" } },
    });
  });

  it("leaves non-JSON and error responses untouched", async () => {
    const layer = responseShapingLayer({ fields: ["id"] });
    const body = Buffer.from(JSON.stringify(order));
    const text = await layer.handle(fakeExchange(), fixedNext(200, body, { "content-type": "text/plain" }));
    expect(text.body).toBe(body);
    const problem = await layer.handle(
      fakeExchange(),
      fixedNext(404, body, { "content-type": "application/json" }),
    );
    expect(problem.body).toBe(body);
  });

  it("needs at least one of fields, omit, queryParameter", () => {
    expect(() => responseShapingLayer({})).toThrow(/at least one/);
  });
});
