// The saga DSL, result validation and step keys, without servers.
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { defineSaga } from "../src/definition/define-saga.js";
import { jsonResult } from "../src/definition/json-result.js";
import { SagaError, SagaErrorCode } from "../src/saga-error.js";
import { sagaStepKey, sagaStepMessageId, uuidV5 } from "../src/saga-step-key.js";

const input = z.object({ amount: z.number() });

describe("defineSaga", () => {
  it("accumulates typed data and resolves nodes, pivot and options", () => {
    const saga = defineSaga({ type: "order.place", input, deadline: "5m", version: 2 })
      .step("payment", {
        invoke: (ctx) => ({ charged: ctx.input.amount }),
        retry: { maxAttempts: 5 },
        timeout: "2s",
      })
      .parallel("prep", {
        stock: { invoke: (ctx) => ctx.data.payment.charged > 0 },
        label: { invoke: () => "L" },
      })
      .pivot("ship", {
        invoke: (ctx) => {
          expectTypeOf(ctx.data.prep.stock).toEqualTypeOf<boolean>();
          expectTypeOf(ctx.data.prep.label).toEqualTypeOf<string>();
          return 1;
        },
      })
      .notify("email", () => {})
      .build();
    expect(saga.nodes.map((n) => `${n.kind}:${n.name}`)).toEqual([
      "step:payment",
      "parallel:prep",
      "step:ship",
      "notify:email",
    ]);
    expect(saga.pivotIndex).toBe(2);
    expect(saga.deadlineMs).toBe(300_000);
    expect(saga.version).toBe(2);
    const payment = saga.nodes[0];
    expect(payment?.kind === "step" && [payment.step.maxAttempts, payment.step.timeoutMs]).toEqual([5, 2000]);
  });

  it.each([
    [
      "a duplicate step",
      () =>
        defineSaga({ type: "t", input })
          .step("a", { invoke: () => 1 })
          .step("a", { invoke: () => 2 }),
    ],
    [
      "a second pivot",
      () =>
        defineSaga({ type: "t", input })
          .pivot("a", { invoke: () => 1 })
          .pivot("b", { invoke: () => 2 }),
    ],
    ["no steps", () => defineSaga({ type: "t", input }).build()],
    [
      "a pivot with compensate",
      () =>
        defineSaga({ type: "t", input })
          .pivot("a", { invoke: () => 1, compensate: () => {} })
          .build(),
    ],
    ["a bad type", () => defineSaga({ type: "", input })],
    ["a missing schema", () => defineSaga({ type: "t", input: {} as never })],
    [
      "a bad retry",
      () => defineSaga({ type: "t", input }).step("a", { invoke: () => 1, retry: { maxAttempts: 0 } }),
    ],
    ["a bad timeout", () => defineSaga({ type: "t", input }).step("a", { invoke: () => 1, timeout: "soon" })],
    ["an empty parallel group", () => defineSaga({ type: "t", input }).parallel("p", {})],
  ])("rejects %s with FLT_SAGA_DEFINITION_INVALID", (_, build) => {
    expect(build).toThrow(expect.objectContaining({ code: SagaErrorCode.DefinitionInvalid }));
  });
});

describe("jsonResult", () => {
  it("accepts plain JSON and stores undefined as null", () => {
    expect(jsonResult({ a: [1, "x", null, { b: true }] }, undefined, "s")).toEqual({
      a: [1, "x", null, { b: true }],
    });
    expect(jsonResult(undefined, undefined, "s")).toBeNull();
  });

  it.each([
    ["a function", { f: () => 1 }, "(result).f"],
    ["NaN", [1, Number.NaN], "(result)[1]"],
    ["a class instance", { d: new Date(0) }, "(result).d"],
    ["a bigint", 1n, "(result)"],
    ["an undefined property", { u: undefined }, "(result).u"],
  ])("refuses %s naming its path", (_, value, path) => {
    const error = (() => {
      try {
        jsonResult(value, undefined, "s");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SagaError);
    expect((error as SagaError).code).toBe(SagaErrorCode.ResultInvalid);
    expect((error as SagaError).message).toContain(path);
  });

  it("applies the step's result schema, undefined included", () => {
    expect(() => jsonResult(undefined, z.object({ id: z.string() }), "s")).toThrow(/fails its schema/);
    expect(jsonResult({ id: "a", extra: 1 }, z.object({ id: z.string() }), "s")).toEqual({ id: "a" });
  });
});

describe("step keys", () => {
  it("derives keys and RFC 9562 v5 ids deterministically", () => {
    expect(sagaStepKey("s1", "payment", "compensate")).toBe("saga:s1:payment:compensate");
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
    expect(sagaStepMessageId("s1", "payment", "invoke")).toBe(sagaStepMessageId("s1", "payment", "invoke"));
    expect(sagaStepMessageId("s1", "payment", "invoke")).not.toBe(
      sagaStepMessageId("s1", "payment", "compensate"),
    );
  });

  it("SagaError instanceof matches only saga errors", () => {
    expect(new SagaError(SagaErrorCode.NotFound, "x")).toBeInstanceOf(SagaError);
    expect(new Error("x")).not.toBeInstanceOf(SagaError);
  });
});
