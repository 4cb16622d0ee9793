import { seededRandom } from "@flotilla/registry";
import { describe, expect, it } from "vitest";
import { CallTable } from "../src/wire/call-table.js";

describe("CallTable", () => {
  it("stores, finds, replaces and deletes by id", () => {
    const table = new CallTable<string>(4);
    table.set(1, "a");
    table.set(5, "b"); // same home slot as 1 in 4 slots
    table.set(0, "zero");
    expect(table.size).toBe(3);
    expect(table.get(1)).toBe("a");
    expect(table.get(5)).toBe("b");
    expect(table.get(0)).toBe("zero");
    expect(table.get(9)).toBeUndefined();
    table.set(5, "b2");
    expect(table.size).toBe(3);
    expect(table.delete(1)).toBe("a");
    // 5 was placed after 1 in the same probe run: it must still be found once 1 is gone.
    expect(table.get(5)).toBe("b2");
    expect(table.has(1)).toBe(false);
    expect(table.delete(1)).toBeUndefined();
    expect(table.size).toBe(2);
    expect(table.values().sort()).toEqual(["b2", "zero"]);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(5)).toBeUndefined();
  });

  it("takes the whole 32-bit id range, the largest ids included", () => {
    const table = new CallTable<number>();
    for (const id of [0xffff_ffff, 0xffff_fffe, 0x8000_0000, 0x7fff_ffff, 1]) table.set(id, id);
    for (const id of [0xffff_ffff, 0xffff_fffe, 0x8000_0000, 0x7fff_ffff, 1]) expect(table.get(id)).toBe(id);
    expect(table.delete(0xffff_ffff)).toBe(0xffff_ffff);
    expect(table.get(0xffff_fffe)).toBe(0xffff_fffe);
  });

  it("agrees with a Map over a long random run of calls starting and ending, across growth", () => {
    const next = seededRandom(7);
    const table = new CallTable<number>(2);
    const reference = new Map<number, number>();
    let id = 0xffff_ff00; // wraps past 2^32 during the run, as call ids do
    for (let step = 0; step < 50_000; step++) {
      const r = next();
      if (r < 0.5 || reference.size === 0) {
        id = id === 0xffff_ffff ? 1 : id + 1;
        table.set(id, step);
        reference.set(id, step);
      } else if (r < 0.95) {
        // Calls end out of order: any pending one may be answered next.
        const keys = [...reference.keys()];
        const victim = keys[Math.floor(next() * keys.length)]!;
        expect(table.delete(victim)).toBe(reference.get(victim));
        reference.delete(victim);
      } else {
        const probe = Math.floor(next() * 2 ** 32);
        expect(table.get(probe)).toBe(reference.get(probe));
      }
      expect(table.size).toBe(reference.size);
    }
    for (const [key, value] of reference) expect(table.get(key)).toBe(value);
    expect(table.values().sort((a, b) => a - b)).toEqual([...reference.values()].sort((a, b) => a - b));
  });

  it("refuses a capacity that is not a power of two", () => {
    expect(() => new CallTable(12)).toThrow(/power of two/);
  });
});
