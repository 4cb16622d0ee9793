// SagaStore.insert and SagaStore.update build the row they return from what they wrote and the
// statement's now() instead of reading every column back: that row must equal what a read of the
// saga returns, through every kind of state change, so that a run and a resumed run see the same.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { SagaState } from "../src/saga-state.js";
import type { SagaRow, StepRecord } from "../src/store/saga-row.js";
import { SagaStore } from "../src/store/saga-store.js";
import { dropSchema, testPool, testSchema } from "./fixtures/order-saga-fixture.js";

/** `row` with the one field that depends on when it was read left out. */
function stable(row: SagaRow | undefined): Omit<SagaRow, "deadlineInMs"> | undefined {
  if (row === undefined) return undefined;
  const { deadlineInMs: _, ...rest } = row;
  return rest;
}

const step = (name: string, result: unknown): StepRecord => ({
  step: name,
  kind: "invoke",
  status: "succeeded",
  attempt: 1,
  startedAt: new Date(Date.now() - 5),
  endedAt: new Date(),
  error: null,
  result,
});

describe("SagaStore: the row a write returns", () => {
  const pool = testPool();
  const schemas: string[] = [];

  afterAll(async () => {
    for (const schema of schemas) await dropSchema(pool, schema);
    await pool.end();
  });

  async function installed(): Promise<SagaStore> {
    const schema = testSchema();
    schemas.push(schema);
    const store = new SagaStore(schema);
    await store.install(pool);
    return store;
  }

  it("equals the stored row after an insert and after each update, leased, ended and failed", async () => {
    const store = await installed();
    const owner = "orchestrator-a";
    const inserted = await store.insert(pool, {
      id: randomUUID(),
      type: "order",
      version: 3,
      input: { orderId: "o-1", at: new Date(0), nested: { b: 1, a: [1, "x", null] } },
      deadlineMs: 60_000,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      correlationId: "corr-1",
      leaseOwner: owner,
      leaseTtlMs: 30_000,
    });
    const read = await store.get(pool, inserted.id);
    expect(stable(inserted)).toEqual(stable(read));
    // The input as stored (a Date becomes its JSON string), not the caller's object.
    expect(inserted.input).toEqual({
      orderId: "o-1",
      at: "1970-01-01T00:00:00.000Z",
      nested: { b: 1, a: [1, "x", null] },
    });
    expect(inserted.deadlineInMs).toBe(60_000);
    expect(read?.deadlineInMs).toBeLessThanOrEqual(60_000);
    expect(read?.deadlineInMs).toBeGreaterThan(50_000);

    let row = inserted;
    const changes = [
      {
        state: SagaState.Running,
        position: 1,
        data: { payment: { id: "p-1" } },
        error: null,
        attempts: 0,
        steps: [step("payment", { id: "p-1" })],
        uncertainSteps: [],
      },
      {
        state: SagaState.Compensating,
        position: 1,
        data: { payment: { id: "p-1" } },
        error: "inventory refused",
        attempts: 2,
        steps: [],
        uncertainSteps: ["inventory"],
      },
      {
        state: SagaState.FailedCompensation,
        position: 1,
        data: { payment: { id: "p-1" } },
        error: "refund failed",
        attempts: 5,
        steps: [],
        uncertainSteps: ["inventory"],
      },
    ];
    for (const change of changes) {
      const updated = await store.update(pool, { previous: row, owner, leaseTtlMs: 30_000, ...change });
      expect(updated, change.state).toBeDefined();
      expect(stable(updated), change.state).toEqual(stable(await store.get(pool, row.id)));
      row = updated as SagaRow;
    }
    expect(row.firstEnd).toBe(SagaState.FailedCompensation);
    expect(row.leaseOwner).toBeNull();
    expect(row.endedAt).toBeNull();

    // An operator resume, then the run ends the saga: ended_at is set and the first end stays.
    const resumed = await store.resume(pool, row.id, owner, 30_000);
    const compensated = await store.update(pool, {
      previous: resumed as SagaRow,
      owner,
      leaseTtlMs: 30_000,
      state: SagaState.Compensated,
      position: 0,
      data: row.data,
      error: row.error,
      attempts: 0,
      steps: [{ ...step("payment", null), kind: "compensate" }],
      uncertainSteps: [],
    });
    expect(stable(compensated)).toEqual(stable(await store.get(pool, row.id)));
    expect(compensated?.firstEnd).toBe(SagaState.FailedCompensation);
    expect(compensated?.endedAt).toBeInstanceOf(Date);
    expect(compensated?.rowVersion).toBe(5);

    const log = await store.stepLog(pool, row.id);
    expect(log.map((entry) => [entry.step, entry.kind, entry.result])).toEqual([
      ["payment", "invoke", { id: "p-1" }],
      ["payment", "compensate", null],
    ]);
    expect(log[0]?.startedAt.getTime()).toBeLessThan(log[0]?.endedAt.getTime() ?? 0);
  });

  it("returns undefined and writes nothing when the row changed hands", async () => {
    const store = await installed();
    const inserted = await store.insert(pool, {
      id: randomUUID(),
      type: "order",
      version: 1,
      input: null,
      deadlineMs: undefined,
      traceparent: undefined,
      correlationId: undefined,
      leaseOwner: "orchestrator-a",
      leaseTtlMs: 30_000,
    });
    expect(stable(inserted)).toEqual(stable(await store.get(pool, inserted.id)));
    expect(inserted.deadlineInMs).toBeNull();
    const change = {
      state: SagaState.Completed,
      position: 3,
      data: {},
      error: null,
      attempts: 0,
      leaseTtlMs: 30_000,
      steps: [step("payment", 1)],
      uncertainSteps: [],
    };
    expect(
      await store.update(pool, { previous: inserted, owner: "orchestrator-b", ...change }),
    ).toBeUndefined();
    const completed = await store.update(pool, { previous: inserted, owner: "orchestrator-a", ...change });
    expect(stable(completed)).toEqual(stable(await store.get(pool, inserted.id)));
    expect(
      await store.update(pool, { previous: inserted, owner: "orchestrator-a", ...change }),
    ).toBeUndefined();
    expect(await store.stepLog(pool, inserted.id)).toHaveLength(1);
  });
});
