import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { radixSortPairs } from "../src/balancer/radix-sort-pairs.js";

describe("radixSortPairs", () => {
  it("sorts keys ascending, carrying values along and keeping ties in input order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 300 }),
        fc.boolean(),
        (raw, few) => {
          // `few` squeezes keys into a small range so that ties are common.
          const keys = Uint32Array.from(raw, (k) => (few ? k % 7 : k));
          const values = Int32Array.from(raw, (_, i) => i);
          const expected = [...keys]
            .map((k, i) => [k, i] as const)
            .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
          const [sortedKeys, sortedValues] = radixSortPairs(keys, values);
          expect([...sortedKeys]).toEqual(expected.map((e) => e[0]));
          expect([...sortedValues]).toEqual(expected.map((e) => e[1]));
        },
      ),
    );
  });
});
