// Traces of a saga (in-memory span exporter, real PostgreSQL): the root span covers the saga's
// life in the process that runs it, every step span is its child in the same trace, and a saga
// resumed by another orchestrator continues under the stored context.
import { initTelemetry, type Telemetry } from "@flotilla/observability";
import { SpanStatusCode } from "@opentelemetry/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Orchestrator, orchestrator } from "../src/orchestrator/orchestrator.js";
import { SagaState } from "../src/saga-state.js";
import {
  dropSchema,
  installLedgers,
  orderSaga,
  testPool,
  testSchema,
  waitUntil,
} from "./fixtures/order-saga-fixture.js";

describe("saga tracing", () => {
  const pool = testPool(10);
  let telemetry: Telemetry;
  const schemas: string[] = [];
  const orchestrators: Orchestrator[] = [];

  beforeAll(() => {
    telemetry = initTelemetry({
      serviceName: "orders",
      exporter: "memory",
      instrumentations: { http: false, undici: false, pg: false },
    });
  });
  afterEach(async () => {
    for (const o of orchestrators.splice(0)) await o.close();
    for (const schema of schemas.splice(0)) await dropSchema(pool, schema);
    telemetry.clearFinishedSpans();
  });
  afterAll(async () => {
    await telemetry.shutdown();
    await pool.end();
  });

  async function setup(hooks: Parameters<typeof orderSaga>[2] = {}) {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    const saga = orderSaga(pool, schema, hooks);
    const start = async () => {
      const orch = orchestrator({ db: pool, sagas: [saga], schema, leaseTtl: "5s", pollInterval: "50ms" });
      orchestrators.push(orch);
      await orch.start();
      return orch;
    };
    return { saga, start };
  }

  const spansOf = (sagaId: string) =>
    telemetry.finishedSpans().filter((span) => span.attributes["flotilla.saga.id"] === sagaId);
  const ms = ([seconds, nanos]: readonly [number, number]) => seconds * 1e3 + nanos / 1e6;

  it("keeps the root span open until the saga completes, with every step span its child", async () => {
    const { saga, start } = await setup();
    const orch = await start();
    const { id } = await orch.startSaga(saga, { orderId: "o-1", amount: 5 });
    // startSaga returned while the saga runs on: its root span has not ended yet.
    expect(spansOf(id).filter((span) => span.name === "saga order.place")).toEqual([]);
    expect((await orch.settled(id))?.state).toBe(SagaState.Completed);
    const spans = spansOf(id);
    const root = spans.find((span) => span.name === "saga order.place");
    expect(root).toBeDefined();
    expect(root!.attributes["flotilla.saga.state"]).toBe(SagaState.Completed);
    const steps = spans.filter((span) => span !== root);
    expect(steps.map((span) => span.name)).toEqual([
      "saga order.place payment invoke",
      "saga order.place inventory invoke",
      "saga order.place shipping invoke",
    ]);
    for (const step of steps) {
      expect(step.spanContext().traceId).toBe(root!.spanContext().traceId);
      expect(step.parentSpanContext?.spanId).toBe(root!.spanContext().spanId);
      expect(ms(step.endTime)).toBeLessThanOrEqual(ms(root!.endTime));
    }
    const stored = (await orch.get(id))?.saga.traceparent;
    expect(stored).toContain(`${root!.spanContext().traceId}-${root!.spanContext().spanId}`);
  });

  it("marks the root span of a compensated saga as an error", async () => {
    const { saga, start } = await setup();
    const orch = await start();
    const { id } = await orch.startSaga(saga, { orderId: "o-2", amount: 5, failAt: "inventory" });
    expect((await orch.settled(id))?.state).toBe(SagaState.Compensated);
    const root = spansOf(id).find((span) => span.name === "saga order.place");
    expect(root?.status.code).toBe(SpanStatusCode.ERROR);
    expect(spansOf(id).map((span) => span.name)).toContain("saga order.place payment compensate");
  });

  it("continues the stored trace when another orchestrator resumes the saga", async () => {
    let reached: () => void = () => {};
    const inInventory = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let closed: () => void = () => {};
    const firstClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    let held = false;
    const hooks = {
      before: async (step: string) => {
        if (step !== "inventory" || held) return;
        held = true;
        reached();
        // The first orchestrator stops while this step runs (its attempt is aborted, nothing committed).
        await firstClosed;
      },
    };
    const { saga, start } = await setup(hooks);
    const first = await start();
    const { id } = await first.startSaga(saga, { orderId: "o-3", amount: 5 });
    await inInventory;
    await first.close();
    closed();
    const firstRoot = spansOf(id).find((span) => span.name === "saga order.place");
    expect(firstRoot).toBeDefined();
    expect(firstRoot!.attributes["flotilla.saga.state"]).toBe(SagaState.Running);

    const second = await start();
    await waitUntil(
      async () => (await second.get(id))?.saga.state === SagaState.Completed,
      "the resumed saga",
    );
    await waitUntil(
      async () => spansOf(id).some((s) => s.name === "saga order.place resume"),
      "the resume span",
    );
    const resume = spansOf(id).find((span) => span.name === "saga order.place resume")!;
    const traceId = firstRoot!.spanContext().traceId;
    expect(resume.spanContext().traceId).toBe(traceId);
    expect(resume.parentSpanContext?.spanId).toBe(firstRoot!.spanContext().spanId);
    const resumedSteps = spansOf(id).filter(
      (span) => span.parentSpanContext?.spanId === resume.spanContext().spanId,
    );
    expect(resumedSteps.map((span) => span.name)).toEqual([
      "saga order.place inventory invoke",
      "saga order.place shipping invoke",
    ]);
    for (const span of spansOf(id)) expect(span.spanContext().traceId).toBe(traceId);
  });
});
