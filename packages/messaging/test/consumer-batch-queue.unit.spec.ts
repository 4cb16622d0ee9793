// How the consumer groups deliveries into transactions.
import { describe, expect, it } from "vitest";
import { BatchQueue } from "../src/consumer/batch-queue.js";

describe("BatchQueue", () => {
  it("batches the items added in one turn, at most maxSize each, in arrival order", async () => {
    const batches: number[][] = [];
    const queue = new BatchQueue<number>({
      process: async (items) => void batches.push(items),
      maxSize: 3,
      concurrency: 1,
    });
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => queue.add(n)));
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it("spreads the waiting items evenly over the free slots", async () => {
    const batches: number[][] = [];
    const queue = new BatchQueue<number>({
      process: async (items) => void batches.push(items),
      maxSize: 64,
      concurrency: 4,
    });
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => queue.add(n)));
    expect(batches).toEqual([[1, 2], [3, 4], [5, 6], [7]]);
  });

  it("runs at most `concurrency` batches at once; items arriving meanwhile form the next batch", async () => {
    const batches: number[][] = [];
    const gates: (() => void)[] = [];
    let running = 0;
    let most = 0;
    const queue = new BatchQueue<number>({
      process: async (items) => {
        batches.push(items);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
      },
      maxSize: 10,
      concurrency: 1,
    });
    const first = queue.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [2, 3, 4].map((n) => queue.add(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    gates.shift()!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1], [2, 3, 4]]);
    gates.shift()!();
    await Promise.all(rest);
    expect(most).toBe(1);
  });

  it("resolves the items of a batch whose processing failed", async () => {
    const queue = new BatchQueue<number>({
      process: async () => {
        throw new Error("boom");
      },
      maxSize: 2,
      concurrency: 1,
    });
    await expect(Promise.all([queue.add(1), queue.add(2), queue.add(3)])).resolves.toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});
