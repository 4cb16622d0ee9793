import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { ClientOf } from "../src/contract/client-types.js";
import { defineContract } from "../src/contract/define-contract.js";
import { route } from "../src/contract/route.js";
import { type AnyService, defineService } from "../src/server/define-service.js";
import type { HandlerContext } from "../src/server/handler-context.js";
import { inventory } from "./fixtures/inventory-service.js";

const orders = defineContract({
  name: "orders",
  version: "2.0.0",
  routes: {
    place: route({
      method: "POST",
      path: "/orders",
      body: z.object({ sku: z.string(), quantity: z.number() }),
      response: z.object({ orderId: z.string() }),
      status: 201,
    }),
    get: route({
      method: "GET",
      path: "/orders/:id",
      params: z.object({ id: z.string() }),
      response: z.object({ orderId: z.string(), state: z.enum(["open", "shipped"]) }),
    }),
  },
});

const ok = {
  stock: async () => [],
  release: async () => undefined,
  adjust: async () => ({ sku: "A", available: 1 }),
};

describe("defineService types", () => {
  it("types each handler's input and context from the contract and the dependencies", () => {
    const service = defineService({
      contract: orders,
      dependencies: { inventory },
      handlers: {
        async place(input, ctx) {
          expectTypeOf(input.body).toEqualTypeOf<{ sku: string; quantity: number }>();
          expectTypeOf(input.params).toEqualTypeOf<Record<string, never>>();
          expectTypeOf(ctx).toEqualTypeOf<HandlerContext<{ readonly inventory: typeof inventory }>>();
          expectTypeOf(ctx.clients.inventory).toEqualTypeOf<ClientOf<typeof inventory>>();
          expectTypeOf(ctx.deadline).toEqualTypeOf<number | undefined>();
          expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
          return { orderId: "o-1" };
        },
        async get({ params }) {
          expectTypeOf(params).toEqualTypeOf<{ id: string }>();
          return { orderId: params.id, state: "open" as const };
        },
      },
    });
    expectTypeOf(service.name).toEqualTypeOf<"orders">();
    expectTypeOf(service).toExtend<AnyService>();
  });

  it("makes a missing handler, an extra handler or a wrong answer a compile error", () => {
    const compileOnly = () => {
      defineService({
        contract: inventory,
        // @ts-expect-error: the handler of `reserve` is missing
        handlers: { ...ok },
      });
      defineService({
        contract: inventory,
        handlers: {
          ...ok,
          reserve: async () => ({ reservationId: "r", quantity: 1 }),
          // @ts-expect-error: no route `cancel` in the contract
          cancel: async () => ({}),
        },
      });
      defineService({
        contract: inventory,
        handlers: {
          ...ok,
          // @ts-expect-error: reservationId must be a string
          reserve: async () => ({ reservationId: 1, quantity: 1 }),
        },
      });
      defineService({
        contract: orders,
        handlers: {
          place: async () => ({ orderId: "o" }),
          get: async ({ params }) => ({ orderId: params.id, state: "open" }),
        },
        // @ts-expect-error: a dependency is a contract
        dependencies: { inventory: "inventory" },
      });
      defineService({
        contract: orders,
        handlers: {
          place: async (_input, ctx) => {
            // @ts-expect-error: no dependency `payments` was declared
            void ctx.clients.payments;
            return { orderId: "o" };
          },
          get: async ({ params }) => ({ orderId: params.id, state: "open" }),
        },
      });
    };
    expectTypeOf(compileOnly).toBeFunction();
  });
});

describe("defineService checks", () => {
  const issuesOf = (fn: () => unknown): { path: string; message: string }[] => {
    try {
      fn();
    } catch (error) {
      expect(error).toMatchObject({ code: "FLT_CONFIG_INVALID" });
      return (error as { issues: { path: string; message: string }[] }).issues;
    }
    throw new Error("expected a ConfigError");
  };

  it("names missing and extra handlers by path (for callers without types)", () => {
    const issues = issuesOf(() =>
      defineService({ contract: inventory, handlers: { ...ok, refund: async () => ({}) } as never }),
    );
    expect(issues).toEqual([
      { path: "handlers.reserve", message: 'missing handler for route "reserve"' },
      { path: "handlers.refund", message: 'no route "refund" in the contract' },
    ]);
  });

  it("refuses reserved paths, duplicate routes and a bad name or version", () => {
    const bad = defineContract({
      name: "Bad_Name",
      version: "one",
      routes: {
        metrics: route({ method: "GET", path: "/metrics", response: z.string() }),
        a: route({ method: "GET", path: "/items/:id", response: z.string() }),
        b: route({ method: "GET", path: "/items/:key", response: z.string() }),
      },
    });
    const issues = issuesOf(() =>
      defineService({
        contract: bad,
        handlers: { metrics: async () => "", a: async () => "", b: async () => "" },
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      "contract.name",
      "contract.version",
      "contract.routes.metrics.path",
      "contract.routes.b.path",
    ]);
  });

  it("keeps the contract's name and version and defaults the optional parts", () => {
    const service = defineService({
      contract: inventory,
      handlers: { ...ok, reserve: async () => ({ reservationId: "r", quantity: 1 }) },
    });
    expect(service).toMatchObject({ name: "inventory", version: "1.2.0", dependencies: {}, pipeline: [] });
  });
});
