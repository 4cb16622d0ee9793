// A step that fails with an uncertain outcome (a timeout, a dropped connection) is compensated
// itself, first, with `ctx.result` undefined; a definitive refusal is not. The order fixture's
// refund of a charge that never happened creates no money.
import { PermanentError } from "@flotilla/messaging";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineSaga } from "../src/definition/define-saga.js";
import { type Orchestrator, orchestrator } from "../src/orchestrator/orchestrator.js";
import { SagaErrorCode } from "../src/saga-error.js";
import { SagaState } from "../src/saga-state.js";
import {
  dropSchema,
  installLedgers,
  orderSaga,
  testPool,
  testSchema,
} from "./fixtures/order-saga-fixture.js";

describe("a step with an uncertain outcome", () => {
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

  async function start(sagas: Parameters<typeof orchestrator>[0]["sagas"]) {
    const schema = testSchema();
    schemas.push(schema);
    const orch = orchestrator({
      db: pool,
      sagas,
      schema,
      pollInterval: "100ms",
      compensation: { maxAttempts: 3, backoff: () => 5 },
    });
    orchestrators.push(orch);
    await orch.start();
    return { schema, orch };
  }

  it("is compensated first, with ctx.result undefined and its own key, when it timed out", async () => {
    const undone: { step: string; result: unknown; key: string }[] = [];
    let lateCharge: Promise<void> | undefined;
    const charges: string[] = [];
    const saga = defineSaga({ type: "uncertain", input: z.object({ refuse: z.boolean() }) })
      .step("reserve", {
        invoke: () => "r-1",
        compensate: (ctx) =>
          void undone.push({ step: ctx.step, result: ctx.result, key: ctx.idempotencyKey }),
      })
      .step("charge", {
        timeout: "50ms",
        retry: { maxAttempts: 2, backoff: () => 1 },
        invoke: (ctx) => {
          if (ctx.input.refuse) throw new PermanentError("card declined");
          // The charge goes through after the orchestrator stopped waiting.
          lateCharge = new Promise<void>((resolve) =>
            ctx.signal.addEventListener(
              "abort",
              () => {
                charges.push(ctx.idempotencyKey);
                resolve();
              },
              { once: true },
            ),
          );
          return new Promise(() => {});
        },
        compensate: (ctx) =>
          void undone.push({ step: ctx.step, result: ctx.result, key: ctx.idempotencyKey }),
      })
      .step("ship", { invoke: () => "s" })
      .build();
    const { orch } = await start([saga]);

    const { id } = await orch.startSaga(saga, { refuse: false });
    await orch.settled(id);
    const found = await orch.get(id);
    await lateCharge;
    // Both attempts went through late, under the same key (a participant applies it once).
    expect([...new Set(charges)]).toEqual([`saga:${id}:charge:invoke`]);
    expect(found?.saga.state).toBe(SagaState.Compensated);
    expect(found?.saga.error).toContain(SagaErrorCode.StepTimeout);
    expect(found?.saga.uncertainSteps).toEqual([]);
    expect(undone).toEqual([
      { step: "charge", result: undefined, key: `saga:${id}:charge:compensate` },
      { step: "reserve", result: "r-1", key: `saga:${id}:reserve:compensate` },
    ]);
    expect(found?.steps.map((s) => `${s.step}:${s.kind}:${s.status}:${s.attempt}`)).toEqual([
      "reserve:invoke:succeeded:1",
      "charge:invoke:failed:2",
      "charge:compensate:succeeded:1",
      "reserve:compensate:succeeded:1",
    ]);

    undone.length = 0;
    const refused = await orch.startSaga(saga, { refuse: true });
    await orch.settled(refused.id);
    expect((await orch.get(refused.id))?.saga.state).toBe(SagaState.Compensated);
    expect(undone.map((u) => u.step)).toEqual(["reserve"]);
  });

  it("compensates an uncertain branch of a parallel group with the branches that succeeded", async () => {
    const undone: string[] = [];
    const saga = defineSaga({ type: "forked-uncertain", input: z.object({}) })
      .parallel("group", {
        ok: { invoke: () => 1, compensate: (ctx) => void undone.push(`ok:${String(ctx.result)}`) },
        lost: {
          retry: { maxAttempts: 1 },
          invoke: () => {
            throw new Error("connection reset");
          },
          compensate: (ctx) => void undone.push(`lost:${String(ctx.result)}`),
        },
        refused: {
          retry: { maxAttempts: 1 },
          invoke: () => {
            throw new PermanentError("no");
          },
          compensate: () => void undone.push("refused"),
        },
      })
      .build();
    const { orch } = await start([saga]);
    const { id } = await orch.startSaga(saga, {});
    await orch.settled(id);
    expect((await orch.get(id))?.saga.state).toBe(SagaState.Compensated);
    expect(undone.sort()).toEqual(["lost:undefined", "ok:1"]);
  });

  it("refunds nothing and keeps the ledger balanced when a payment's outcome is unknown", async () => {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    const saga = orderSaga(pool, schema, {
      before: (step) => {
        if (step === "payment") throw new Error("payment service connection reset");
      },
    });
    const orch = orchestrator({ db: pool, sagas: [saga], schema, pollInterval: "100ms" });
    orchestrators.push(orch);
    await orch.start();
    const { id } = await orch.startSaga(saga, { orderId: "o-1", amount: 30 });
    await orch.settled(id);
    const found = await orch.get(id);
    expect(found?.saga.state).toBe(SagaState.Compensated);
    expect(found?.steps.map((s) => `${s.step}:${s.kind}:${s.status}`)).toEqual([
      "payment:invoke:failed",
      "payment:compensate:succeeded",
    ]);
    const payments = await pool.query(
      `SELECT key, kind, amount FROM "${schema}".payments WHERE saga_id = $1`,
      [id],
    );
    expect(payments.rows).toEqual([{ key: `saga:${id}:payment:compensate`, kind: "void", amount: 0 }]);
  });

  it("a charge that arrives after its compensation applies nothing", async () => {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let lateCall: Promise<unknown> | undefined;
    const saga = orderSaga(pool, schema);
    const payment = saga.nodes[0];
    if (payment?.kind !== "step") throw new Error("payment step missing");
    const slow = defineSaga({
      type: "slow.payment",
      input: z.object({ orderId: z.string(), amount: z.number() }),
    })
      .step("payment", {
        timeout: "30ms",
        retry: { maxAttempts: 1 },
        invoke: (ctx) => {
          // The participant receives the call only after the orchestrator gave up and compensated.
          lateCall = gate.then(() => payment.step.invoke(ctx as never));
          return new Promise(() => {});
        },
        compensate: async (ctx) => {
          await payment.step.compensate?.(ctx as never);
          release();
        },
      })
      .build();
    const orch = orchestrator({ db: pool, sagas: [slow], schema, pollInterval: "100ms" });
    orchestrators.push(orch);
    await orch.start();
    const { id } = await orch.startSaga(slow, { orderId: "o-2", amount: 12 });
    await orch.settled(id);
    await lateCall;
    expect((await orch.get(id))?.saga.state).toBe(SagaState.Compensated);
    const payments = await pool.query(`SELECT kind, amount FROM "${schema}".payments WHERE saga_id = $1`, [
      id,
    ]);
    expect(payments.rows).toEqual([{ kind: "void", amount: 0 }]);
  });
});
