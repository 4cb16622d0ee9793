import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { type ClientOf, defineContract, type HandlerInput, type RouteOutput, route } from "../src/index.js";

const inventory = defineContract({
  name: "inventory",
  version: "1.2.0",
  routes: {
    reserve: route({
      method: "POST",
      path: "/reservations/:sku",
      params: z.object({ sku: z.string() }),
      body: z.object({ quantity: z.number().int().positive(), note: z.string().optional() }),
      response: z.object({ reservationId: z.string() }),
      status: 201,
    }),
    stock: route({
      method: "GET",
      path: "/stock",
      query: z.object({ sku: z.string().optional() }),
      response: z.array(z.object({ sku: z.string(), available: z.number() })),
    }),
  },
});

describe("contract type inference", () => {
  it("infers client inputs and outputs from the schemas", () => {
    type Inventory = ClientOf<typeof inventory>;
    expectTypeOf<Parameters<Inventory["reserve"]>[0]>().toEqualTypeOf<
      { readonly params: { sku: string } } & { readonly query?: never } & {
        readonly body: { quantity: number; note?: string | undefined };
      }
    >();
    expectTypeOf<Awaited<ReturnType<Inventory["reserve"]>>>().toEqualTypeOf<{ reservationId: string }>();
    expectTypeOf<RouteOutput<typeof inventory.routes.stock>>().toEqualTypeOf<
      { sku: string; available: number }[]
    >();
    expectTypeOf<HandlerInput<typeof inventory.routes.reserve>["params"]>().toEqualTypeOf<{ sku: string }>();
  });

  it("rejects a wrong field name or type at compile time", () => {
    const client = {} as ClientOf<typeof inventory>;
    const call = () => {
      // @ts-expect-error: `qty` is not a field of the body
      void client.reserve({ params: { sku: "a" }, body: { qty: 1 } });
      // @ts-expect-error: quantity must be a number
      void client.reserve({ params: { sku: "a" }, body: { quantity: "1" } });
      // @ts-expect-error: params are required
      void client.reserve({ body: { quantity: 1 } });
      // @ts-expect-error: the route has no body
      void client.stock({ body: {} });
      void client.stock();
      void client.stock({ query: { sku: "a" } });
    };
    expectTypeOf(call).toBeFunction();
  });
});
