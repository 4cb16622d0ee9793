// The three-step order saga on real PostgreSQL: happy path, failure at each step, pivot, parallel
// group, deadline, invalid input, garbage results, unknown types, FAILED_COMPENSATION and resume,
// and two orchestrators sharing one table.
import { randomUUID } from "node:crypto";
import { PermanentError } from "@flotilla/messaging";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineSaga } from "../src/definition/define-saga.js";
import { type Orchestrator, orchestrator } from "../src/orchestrator/orchestrator.js";
import { SagaError, SagaErrorCode } from "../src/saga-error.js";
import { SagaState } from "../src/saga-state.js";
import { SagaStore } from "../src/store/saga-store.js";
import {
  dropSchema,
  installLedgers,
  OverlapRecorder,
  orderSaga,
  testPool,
  testSchema,
  waitUntil,
} from "./fixtures/order-saga-fixture.js";

describe("saga orchestrator on PostgreSQL", () => {
  const pool = testPool(20);
  const schemas: string[] = [];
  const orchestrators: Orchestrator[] = [];

  afterEach(async () => {
    for (const o of orchestrators.splice(0)) await o.close();
    for (const schema of schemas.splice(0)) await dropSchema(pool, schema);
  });
  afterAll(async () => {
    await pool.end();
  });

  async function setup(
    options: { refundFailures?: number; extra?: Parameters<typeof orchestrator>[0]["sagas"] } = {},
  ) {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    const hooks = { refundFailures: options.refundFailures ?? 0 };
    const saga = orderSaga(pool, schema, hooks);
    const registry = new Registry();
    const orch = orchestrator({
      db: pool,
      sagas: [saga, ...(options.extra ?? [])],
      schema,
      leaseTtl: "5s",
      pollInterval: "100ms",
      registry,
      compensation: { maxAttempts: 3, backoff: () => 5 },
    });
    orchestrators.push(orch);
    await orch.start();
    return { schema, saga, orch, registry, hooks };
  }

  async function finished(orch: Orchestrator, id: string) {
    await orch.settled(id);
    const found = await orch.get(id);
    if (found === undefined) throw new Error(`saga ${id} missing`);
    return found;
  }

  const ledger = async (schema: string, sagaId: string) => ({
    payments: (
      await pool.query(`SELECT kind, amount FROM "${schema}".payments WHERE saga_id = $1 ORDER BY kind`, [
        sagaId,
      ])
    ).rows,
    reservations: (
      await pool.query(`SELECT kind FROM "${schema}".reservations WHERE saga_id = $1 ORDER BY kind`, [sagaId])
    ).rows.map((r) => r.kind),
    shipments: Number(
      (await pool.query(`SELECT count(*) FROM "${schema}".shipments WHERE saga_id = $1`, [sagaId])).rows[0]
        .count,
    ),
  });

  it("completes the happy path with typed data and one commit per step", async () => {
    const { schema, saga, orch, registry } = await setup();
    const { id } = await orch.startSaga(saga, { orderId: "o-1", amount: 42 });
    const { saga: row, steps } = await finished(orch, id);
    expect(row.state).toBe(SagaState.Completed);
    expect(row.data).toEqual({
      payment: { chargeId: `saga:${id}:payment:invoke`, amount: 42 },
      inventory: { reservationId: `saga:${id}:inventory:invoke`, charged: 42 },
      shipping: { shipmentId: `saga:${id}:shipping:invoke`, reservation: `saga:${id}:inventory:invoke` },
    });
    expect(steps.map((s) => `${s.step}:${s.kind}:${s.status}`)).toEqual([
      "payment:invoke:succeeded",
      "inventory:invoke:succeeded",
      "shipping:invoke:succeeded",
    ]);
    // insert (row_version 0) + one update per step
    expect(row.rowVersion).toBe(3);
    expect(row.endedAt).not.toBeNull();
    expect(await ledger(schema, id)).toEqual({
      payments: [{ kind: "charge", amount: 42 }],
      reservations: ["reserve"],
      shipments: 1,
    });
    const metrics = await registry.getMetricsAsJSON();
    const ended = metrics.find((m) => m.name === "flotilla_saga_ended_total");
    expect(ended?.values).toContainEqual(
      expect.objectContaining({ labels: { type: "order.place", state: "COMPLETED" }, value: 1 }),
    );
  });

  it.each([
    ["payment", [], { payments: [], reservations: [], shipments: 0 }],
    [
      "inventory",
      ["payment:compensate:succeeded"],
      {
        payments: [
          { kind: "charge", amount: 10 },
          { kind: "refund", amount: 10 },
        ],
        reservations: [],
        shipments: 0,
      },
    ],
    [
      "shipping",
      ["inventory:compensate:succeeded", "payment:compensate:succeeded"],
      {
        payments: [
          { kind: "charge", amount: 10 },
          { kind: "refund", amount: 10 },
        ],
        reservations: ["release", "reserve"],
        shipments: 0,
      },
    ],
  ] as const)(
    "a failure at %s compensates exactly the completed steps in reverse",
    async (failAt, compensations, expected) => {
      const { schema, saga, orch } = await setup();
      const { id } = await orch.startSaga(saga, { orderId: "o-2", amount: 10, failAt });
      const { saga: row, steps } = await finished(orch, id);
      expect(row.state).toBe(SagaState.Compensated);
      expect(row.error).toContain(
        failAt === "payment" ? "card declined" : failAt === "inventory" ? "out of stock" : "no courier",
      );
      expect(
        steps.filter((s) => s.kind === "compensate").map((s) => `${s.step}:${s.kind}:${s.status}`),
      ).toEqual(compensations);
      expect(steps.find((s) => s.status === "failed")?.step).toBe(failAt);
      expect(row.data).toEqual({});
      expect(await ledger(schema, id)).toEqual(expected);
    },
  );

  it("rejects invalid input before writing anything", async () => {
    const { saga, orch } = await setup();
    const error = await orch.startSaga(saga, { orderId: "", amount: -1 } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SagaError);
    expect((error as SagaError).code).toBe(SagaErrorCode.InputInvalid);
    expect((error as SagaError).issues.map((i) => i.path).sort()).toEqual(["amount", "orderId"]);
    expect(await orch.list()).toEqual([]);
  });

  it("records a garbage result as a step failure and compensates", async () => {
    const schema = testSchema();
    schemas.push(schema);
    let refunded = 0;
    const garbage = defineSaga({
      type: "garbage",
      input: z.object({ kind: z.enum(["fn", "schema", "nan"]) }),
    })
      .step("first", { invoke: () => ({ ok: true }), compensate: () => void refunded++ })
      .step("second", {
        result: z.object({ id: z.string() }),
        invoke: (ctx) =>
          (ctx.input.kind === "fn"
            ? { id: "x", call: () => 1 }
            : ctx.input.kind === "nan"
              ? { id: "x", n: Number.NaN }
              : { id: 7 }) as never,
      })
      .build();
    const orch = orchestrator({ db: pool, sagas: [garbage], schema, pollInterval: "100ms" });
    orchestrators.push(orch);
    await orch.start();
    const ids = await Promise.all(
      (["fn", "schema", "nan"] as const).map((kind) => orch.startSaga(garbage, { kind })),
    );
    const rows = await Promise.all(ids.map(({ id }) => finished(orch, id)));
    for (const { saga: row, steps } of rows) {
      expect(row.state).toBe(SagaState.Compensated);
      expect(row.error).toContain(SagaErrorCode.ResultInvalid);
      const failed = steps.find((s) => s.status === "failed");
      expect(failed?.step).toBe("second");
      expect(failed?.attempt).toBe(1);
    }
    expect(rows[1]?.saga.error).toContain("id");
    expect(refunded).toBe(3);
  });

  it("after the pivot retries until success and never compensates; at the pivot it compensates", async () => {
    const schema = testSchema();
    schemas.push(schema);
    const undone: string[] = [];
    let shipFailures = 2;
    const pivoted = defineSaga({ type: "pivoted", input: z.object({ failPivot: z.boolean() }) })
      .step("reserve", { invoke: () => "r", compensate: () => void undone.push("reserve") })
      .pivot("charge", {
        retry: { maxAttempts: 1 },
        invoke: (ctx) => {
          if (ctx.input.failPivot) throw new PermanentError("declined");
          return "c";
        },
      })
      .step("ship", {
        retry: { maxAttempts: 1 },
        invoke: () => {
          if (shipFailures-- > 0) throw new Error("courier down");
          return "s";
        },
        compensate: () => void undone.push("ship"),
      })
      .build();
    const orch = orchestrator({ db: pool, sagas: [pivoted], schema, maxRetryDelay: "20ms" });
    orchestrators.push(orch);
    await orch.start();
    const ok = await orch.startSaga(pivoted, { failPivot: false });
    const { saga: row, steps } = await finished(orch, ok.id);
    expect(row.state).toBe(SagaState.Completed);
    expect(steps.filter((s) => s.step === "ship").map((s) => s.status)).toEqual([
      "failed",
      "failed",
      "succeeded",
    ]);
    expect(undone).toEqual([]);
    const bad = await orch.startSaga(pivoted, { failPivot: true });
    expect((await finished(orch, bad.id)).saga.state).toBe(SagaState.Compensated);
    expect(undone).toEqual(["reserve"]);
  });

  it("runs a parallel group and compensates the branches that succeeded plus earlier steps", async () => {
    const schema = testSchema();
    schemas.push(schema);
    const undone: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const forked = defineSaga({ type: "forked", input: z.object({ failB: z.boolean() }) })
      .step("first", { invoke: () => 1, compensate: () => void undone.push("first") })
      .parallel("group", {
        a: {
          invoke: async () => {
            await gate;
            return { a: true };
          },
          compensate: (ctx) => void undone.push(`a:${JSON.stringify(ctx.result)}`),
        },
        b: {
          retry: { maxAttempts: 1 },
          invoke: (ctx) => {
            release();
            if (ctx.input.failB) throw new PermanentError("b failed");
            return "b";
          },
          compensate: () => void undone.push("b"),
        },
      })
      .step("last", { invoke: (ctx) => `${ctx.data.group.a.a}-${ctx.data.group.b}-${ctx.data.first}` })
      .build();
    const orch = orchestrator({ db: pool, sagas: [forked], schema });
    orchestrators.push(orch);
    await orch.start();
    const ok = await orch.startSaga(forked, { failB: false });
    const done = await finished(orch, ok.id);
    expect(done.saga.state).toBe(SagaState.Completed);
    expect(done.saga.data).toEqual({ first: 1, group: { a: { a: true }, b: "b" }, last: "true-b-1" });
    const bad = await orch.startSaga(forked, { failB: true });
    const failed = await finished(orch, bad.id);
    expect(failed.saga.state).toBe(SagaState.Compensated);
    expect(undone).toEqual(['a:{"a":true}', "first"]);
  });

  it("compensates when the saga deadline passes before the pivot", async () => {
    const schema = testSchema();
    schemas.push(schema);
    const undone: string[] = [];
    const slow = defineSaga({ type: "slow", input: z.object({}), deadline: "300ms" })
      .step("quick", { invoke: () => "q", compensate: () => void undone.push("quick") })
      .step("stuck", {
        invoke: (ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true }),
          ),
      })
      .build();
    const orch = orchestrator({ db: pool, sagas: [slow], schema });
    orchestrators.push(orch);
    await orch.start();
    const started = Date.now();
    const { id } = await orch.startSaga(slow, {});
    const { saga: row } = await finished(orch, id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(row.state).toBe(SagaState.Compensated);
    expect(row.error).toContain(SagaErrorCode.DeadlineExceeded);
    expect(undone).toEqual(["quick"]);
  });

  it("leaves FAILED_COMPENSATION with the error, then an operator resume compensates", async () => {
    const { schema, saga, orch, registry, hooks } = await setup({ refundFailures: 3 });
    const { id } = await orch.startSaga(saga, { orderId: "o-3", amount: 5, failAt: "inventory" });
    const { saga: stuck } = await finished(orch, id);
    expect(stuck.state).toBe(SagaState.FailedCompensation);
    expect(stuck.error).toContain("refund service unavailable");
    expect(stuck.attempts).toBe(3);
    expect(hooks.refundFailures).toBe(0);
    await waitUntil(async () => {
      const failed = (await registry.getMetricsAsJSON()).find(
        (m) => m.name === "flotilla_saga_failed_compensation",
      );
      return failed !== undefined;
    }, "failed-compensation gauge");
    await orch.resume(id);
    const { saga: row } = await finished(orch, id);
    expect(row.state).toBe(SagaState.Compensated);
    expect((await ledger(schema, id)).payments).toEqual([
      { kind: "charge", amount: 5 },
      { kind: "refund", amount: 5 },
    ]);
    await expect(orch.resume(id)).rejects.toMatchObject({ code: SagaErrorCode.InvalidState });
  });

  it("reports unknown saga types without claiming or crashing, and aborts on request", async () => {
    const { schema, saga, orch } = await setup();
    const registry = new Registry();
    const store = new SagaStore(schema);
    const ghost = randomUUID();
    await store.insert(pool, {
      id: ghost,
      type: "removed.saga",
      version: 1,
      input: {},
      deadlineMs: undefined,
      traceparent: undefined,
      correlationId: undefined,
      leaseOwner: undefined,
      leaseTtlMs: 1000,
    });
    const second = orchestrator({ db: pool, sagas: [saga], schema, pollInterval: "50ms", registry });
    orchestrators.push(second);
    await second.start();
    await waitUntil(async () => second.unknownTypes().get("removed.saga") === 1, "unknown type report");
    const counter = (await registry.getMetricsAsJSON()).find(
      (m) => m.name === "flotilla_saga_unknown_type_total",
    );
    expect(counter?.values).toContainEqual(
      expect.objectContaining({ labels: { type: "removed.saga" }, value: 1 }),
    );
    const { id } = await second.startSaga(saga, { orderId: "o-4", amount: 1 });
    expect((await finished(second, id)).saga.state).toBe(SagaState.Completed);
    const row = await store.get(pool, ghost);
    expect(row?.state).toBe(SagaState.Running);
    expect(row?.leaseOwner).toBeNull();
    const aborted = await orch.abort(ghost);
    expect(aborted.state).toBe(SagaState.Aborted);
  });

  it("two orchestrators on one table never run the same step at once and finish every saga", async () => {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    const overlap = new OverlapRecorder();
    const executions = new Map<string, number>();
    const saga = orderSaga(
      pool,
      schema,
      {
        before: async (step, sagaId) => {
          executions.set(`${sagaId}:${step}`, (executions.get(`${sagaId}:${step}`) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        },
      },
      overlap,
    );
    const store = new SagaStore(schema);
    await store.install(pool);
    const ids: string[] = [];
    for (let n = 0; n < 60; n++) {
      const id = randomUUID();
      ids.push(id);
      await store.insert(pool, {
        id,
        type: "order.place",
        version: 1,
        input: { orderId: `o-${n}`, amount: n + 1, ...(n % 5 === 0 ? { failAt: "shipping" } : {}) },
        deadlineMs: undefined,
        traceparent: undefined,
        correlationId: undefined,
        leaseOwner: undefined,
        leaseTtlMs: 1000,
      });
    }
    const a = orchestrator({
      db: pool,
      sagas: [saga],
      schema,
      pollInterval: "20ms",
      concurrency: 8,
      instanceId: "a",
    });
    const b = orchestrator({
      db: pool,
      sagas: [saga],
      schema,
      pollInterval: "20ms",
      concurrency: 8,
      instanceId: "b",
    });
    orchestrators.push(a, b);
    await Promise.all([a.start(), b.start()]);
    await waitUntil(
      async () => {
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n FROM "${schema}".sagas WHERE state IN ('COMPLETED', 'COMPENSATED')`,
        );
        return rows[0].n === ids.length;
      },
      "every saga to finish",
      20_000,
    );
    expect(overlap.overlaps).toEqual([]);
    for (const [, count] of executions) expect(count).toBe(1);
    const { rows } = await pool.query(
      `SELECT state, count(*)::int AS n FROM "${schema}".sagas GROUP BY state ORDER BY state`,
    );
    expect(rows).toEqual([
      { state: "COMPENSATED", n: 12 },
      { state: "COMPLETED", n: 48 },
    ]);
    const owners = await pool.query(`SELECT count(DISTINCT saga_id)::int AS n FROM "${schema}".saga_steps`);
    expect(owners.rows[0].n).toBe(60);
  });
});
