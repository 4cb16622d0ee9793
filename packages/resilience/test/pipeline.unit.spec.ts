import { describe, expect, it } from "vitest";
import { type Operation, type Policy, type PolicyContext, pipeline } from "../src/index.js";

/** A policy that records when it runs and can change the context it hands inward. */
function recorder(name: string, log: string[], change?: (ctx: PolicyContext) => PolicyContext): Policy {
  return {
    async execute<T>(operation: Operation<T>, context: PolicyContext = {}): Promise<T> {
      log.push(`${name}:in`);
      try {
        return await operation(change ? change(context) : context);
      } finally {
        log.push(`${name}:out`);
      }
    },
  };
}

describe("pipeline", () => {
  it("runs policies outer to inner in the order given", async () => {
    const log: string[] = [];
    const result = await pipeline(recorder("a", log), recorder("b", log), recorder("c", log)).execute(() => {
      log.push("op");
      return 42;
    });
    expect(result).toBe(42);
    expect(log).toEqual(["a:in", "b:in", "c:in", "op", "c:out", "b:out", "a:out"]);
  });

  it("hands each policy the context its outer policy produced", async () => {
    const log: string[] = [];
    const seen: (number | undefined)[] = [];
    const p = pipeline(
      recorder("retry", log, (ctx) => ({ ...ctx, attempt: 2 })),
      recorder("probe", log, (ctx) => {
        seen.push(ctx.attempt);
        return ctx;
      }),
    );
    await p.execute((ctx) => seen.push(ctx.attempt));
    expect(seen).toEqual([2, 2]);
  });

  it("passes the caller's context to the outermost policy", async () => {
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    await pipeline(recorder("a", [])).execute(
      (ctx) => {
        signal = ctx.signal;
      },
      { signal: controller.signal },
    );
    expect(signal).toBe(controller.signal);
  });

  it("propagates a rejection through every layer", async () => {
    const log: string[] = [];
    await expect(
      pipeline(recorder("a", log), recorder("b", log)).execute(() => Promise.reject(new Error("boom"))),
    ).rejects.toThrow("boom");
    expect(log).toEqual(["a:in", "b:in", "b:out", "a:out"]);
  });

  it("refuses an empty pipeline and a non-policy with a clear error", () => {
    expect(() => pipeline()).toThrow("at least one policy");
    expect(() => pipeline({} as Policy)).toThrow("argument 0 is not a policy");
  });
});
