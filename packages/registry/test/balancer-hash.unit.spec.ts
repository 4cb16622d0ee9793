import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fnv1a64Hex, hashString, mix32 } from "../src/balancer/hash-string.js";
import { seededRandom } from "../src/balancer/seeded-random.js";

// Reference FNV-1a 64 with BigInt over Node's own UTF-8 encoding, to check the two-halves version.
function referenceFnv(value: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(value, "utf8")) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

describe("hashString", () => {
  it("computes 64-bit FNV-1a exactly: the published test vectors", () => {
    expect(fnv1a64Hex("")).toBe("cbf29ce484222325");
    expect(fnv1a64Hex("a")).toBe("af63dc4c8601ec8c");
    expect(fnv1a64Hex("foobar")).toBe("85944171f73967e8");
  });

  it("hashes the UTF-8 bytes of any string, lone surrogates as U+FFFD", () => {
    expect(fnv1a64Hex("é😀\ud800x")).toBe(referenceFnv("é😀\ud800x"));
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (s) => fnv1a64Hex(s) === referenceFnv(s)),
    );
  });

  it("returns an exact integer in [0, 2^53) that never changes between versions", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const h = hashString(s);
        return Number.isSafeInteger(h) && h >= 0 && h === hashString(s);
      }),
    );
    // Pinned: a change here remaps every affinity key of every deployed client.
    expect([hashString(""), hashString("user-42"), hashString("10.0.0.7")]).toMatchInlineSnapshot(`
      [
        6959910190078264,
        1782063446889126,
        5758230808852799,
      ]
    `);
  });

  it("spreads keys that differ only in their last character over the whole 32-bit range", () => {
    const buckets = new Array<number>(16).fill(0);
    for (let k = 0; k < 16_000; k++) buckets[(hashString(`user-${k}`) >>> 0) >>> 28]! += 1;
    for (const count of buckets) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it("mix32 is the MurmurHash3 finaliser", () => {
    expect(mix32(0)).toBe(0);
    expect(mix32(1)).toBe(0x514e28b7);
  });
});

describe("seededRandom", () => {
  it("repeats the same sequence for the same seed, in [0, 1)", () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const c = seededRandom(8);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });
});
