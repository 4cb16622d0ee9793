// Saga metrics count each saga once: started when it really starts (a saga started in a caller's
// transaction at its first claim, never when the transaction rolls back), ended at its first end
// (a later end after an operator resume is an end change); and runSoon runs a saga started in a
// transaction at once after the commit instead of at the next poll.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type Orchestrator, orchestrator } from "../src/orchestrator/orchestrator.js";
import { SagaState } from "../src/saga-state.js";
import {
  dropSchema,
  installLedgers,
  orderSaga,
  testPool,
  testSchema,
} from "./fixtures/order-saga-fixture.js";

describe("orchestrator metrics and runSoon", () => {
  const pool = testPool();
  const schemas: string[] = [];
  const orchestrators: Orchestrator[] = [];

  afterEach(async () => {
    for (const o of orchestrators.splice(0)) await o.close();
    for (const schema of schemas.splice(0)) await dropSchema(pool, schema);
  });
  afterAll(async () => {
    await pool.end();
  });

  async function setup(refundFailures = 0) {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    const hooks = { refundFailures };
    const saga = orderSaga(pool, schema, hooks);
    const registry = new Registry();
    // No poll after the first one within the test: only runSoon can start a saga.
    const orch = orchestrator({
      db: pool,
      sagas: [saga],
      schema,
      pollInterval: "1h",
      registry,
      compensation: { maxAttempts: 2, backoff: () => 5 },
    });
    orchestrators.push(orch);
    await orch.start();
    const values = async (name: string) =>
      (await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values.filter((v) => v.value > 0) ??
      [];
    return { saga, orch, values };
  }

  async function inTransaction<T>(fn: (tx: import("pg").PoolClient) => Promise<T>, commit: boolean) {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const value = await fn(client);
      await client.query(commit ? "COMMIT" : "ROLLBACK");
      return value;
    } finally {
      client.release();
    }
  }

  it("counts a saga started in a transaction when it is first claimed, and runs it at once with runSoon", async () => {
    const { saga, orch, values } = await setup();
    const rolledBack = await inTransaction(
      (tx) => orch.startSaga(saga, { orderId: "o-1", amount: 3 }, { tx }),
      false,
    );
    expect(await orch.runSoon(rolledBack.id)).toBe(false);
    expect(await orch.runSoon(randomUUID())).toBe(false);
    expect(await values("flotilla_saga_started_total")).toEqual([]);

    const { id } = await inTransaction(
      (tx) => orch.startSaga(saga, { orderId: "o-2", amount: 4 }, { tx }),
      true,
    );
    expect(await values("flotilla_saga_started_total")).toEqual([]);
    expect(await orch.runSoon(id)).toBe(true);
    await orch.settled(id);
    expect((await orch.get(id))?.saga.state).toBe(SagaState.Completed);
    expect(await orch.runSoon(id)).toBe(false);
    expect(await values("flotilla_saga_started_total")).toEqual([
      expect.objectContaining({ labels: { type: "order.place" }, value: 1 }),
    ]);
  });

  it("counts a saga's first end once; its end after an operator resume is an end change", async () => {
    const { saga, orch, values } = await setup(2);
    const { id } = await orch.startSaga(saga, { orderId: "o-3", amount: 5, failAt: "inventory" });
    await orch.settled(id);
    expect((await orch.get(id))?.saga.state).toBe(SagaState.FailedCompensation);
    await orch.resume(id);
    await orch.settled(id);
    expect((await orch.get(id))?.saga).toMatchObject({
      state: SagaState.Compensated,
      firstEnd: SagaState.FailedCompensation,
    });
    expect(await values("flotilla_saga_started_total")).toEqual([
      expect.objectContaining({ labels: { type: "order.place" }, value: 1 }),
    ]);
    expect(await values("flotilla_saga_ended_total")).toEqual([
      expect.objectContaining({ labels: { type: "order.place", state: "FAILED_COMPENSATION" }, value: 1 }),
    ]);
    expect(await values("flotilla_saga_end_changed_total")).toEqual([
      expect.objectContaining({
        labels: { type: "order.place", from: "FAILED_COMPENSATION", to: "COMPENSATED" },
        value: 1,
      }),
    ]);
  });
});
