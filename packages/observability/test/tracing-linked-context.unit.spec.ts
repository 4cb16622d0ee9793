import { type Context, createContextKey, ROOT_CONTEXT } from "@opentelemetry/api";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emptyContext } from "../src/tracing/linked-context.js";

const keys = ["a", "b", "c"].map((name) => createContextKey(`linked-context-test ${name}`));

describe("LinkedContext", () => {
  it("answers every read as the API's own context does, after any sequence of sets and deletes", () => {
    const op = fc.oneof(
      fc.tuple(
        fc.constant("set" as const),
        fc.nat({ max: 2 }),
        fc.oneof(fc.integer(), fc.constant(undefined)),
      ),
      fc.tuple(fc.constant("delete" as const), fc.nat({ max: 2 }), fc.constant(undefined)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        let linked: Context = emptyContext;
        let base: Context = ROOT_CONTEXT;
        const earlier: [Context, Context][] = [];
        for (const [kind, k, value] of ops) {
          earlier.push([linked, base]);
          const key = keys[k]!;
          linked = kind === "set" ? linked.setValue(key, value) : linked.deleteValue(key);
          base = kind === "set" ? base.setValue(key, value) : base.deleteValue(key);
          for (const [l, b] of [...earlier, [linked, base] as [Context, Context]]) {
            for (const read of keys) expect(l.getValue(read)).toBe(b.getValue(read));
          }
        }
      }),
    );
  });
});
