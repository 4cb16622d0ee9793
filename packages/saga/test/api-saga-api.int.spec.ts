// The saga visibility API on a real HTTP server (127.0.0.1:0) and the real PostgreSQL: lists with
// filters (failed only, states, type, style, time, limit), one saga with its step history, operator
// resume and abort, unknown types, choreographed sagas in the same shape, and problem+json errors.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createEnvelope, defineEvent, type Envelope, type EventHandler } from "@flotilla/messaging";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { sagaApi } from "../src/api/saga-api.js";
import type { SagaView } from "../src/api/saga-view.js";
import { type ChoreographyTracker, choreographyTracker } from "../src/choreography/choreography-tracker.js";
import { defineChoreography } from "../src/choreography/define-choreography.js";
import { type Orchestrator, orchestrator } from "../src/orchestrator/orchestrator.js";
import { SagaError, SagaErrorCode } from "../src/saga-error.js";
import { SagaState } from "../src/saga-state.js";
import {
  dropSchema,
  installLedgers,
  orderSaga,
  testPool,
  testSchema,
} from "./fixtures/order-saga-fixture.js";

const orderPlaced = defineEvent({ type: "api-test.order-placed", schema: z.object({ orderId: z.string() }) });
const stockReserved = defineEvent({
  type: "api-test.stock-reserved",
  schema: z.object({ orderId: z.string() }),
});
const orderConfirmed = defineEvent({
  type: "api-test.order-confirmed",
  schema: z.object({ orderId: z.string() }),
});
const refundFailed = defineEvent({
  type: "api-test.refund-failed",
  schema: z.object({ orderId: z.string() }),
});
const flow = defineChoreography({
  type: "order.fulfil",
  start: orderPlaced,
  steps: [stockReserved],
  completed: [orderConfirmed],
  failed: [refundFailed],
});

interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

describe("saga API", () => {
  const pool = testPool(10);
  const schema = testSchema();
  const hooks = { refundFailures: 0 };
  const saga = orderSaga(pool, schema, hooks);
  let orch: Orchestrator;
  let tracker: ChoreographyTracker;
  let server: Server;
  let base: string;
  const ids = { completed: "", compensated: "", failed: "", aborted: "" };
  const flows = { confirmed: `flow-${randomUUID()}`, failed: `flow-${randomUUID()}` };

  async function run(input: Parameters<typeof orch.startSaga<unknown>>[1]): Promise<string> {
    const { id } = await orch.startSaga(saga, input as never);
    await orch.settled(id);
    return id;
  }

  async function track(event: { type: string }, correlationId: string, time: string): Promise<void> {
    const handler = tracker.handlers.find((h) => h.event.type === event.type) as EventHandler;
    const envelope = createEnvelope({
      type: event.type,
      source: "/services/test",
      data: { orderId: correlationId },
      correlationid: correlationId,
      time,
    }) as Envelope;
    await handler.run(envelope, { tx: undefined } as never, {} as never);
  }

  beforeAll(async () => {
    await installLedgers(pool, schema);
    orch = orchestrator({
      db: pool,
      sagas: [saga],
      schema,
      leaseTtl: "5s",
      pollInterval: "100ms",
      compensation: { maxAttempts: 2, backoff: () => 5 },
    });
    await orch.start();
    tracker = choreographyTracker({ db: pool, definitions: [flow], schema });
    await tracker.install();
    ids.completed = await run({ orderId: "o-1", amount: 10 });
    ids.compensated = await run({ orderId: "o-2", amount: 20, failAt: "inventory" });
    hooks.refundFailures = 2;
    ids.failed = await run({ orderId: "o-3", amount: 30, failAt: "shipping" });
    hooks.refundFailures = 2;
    ids.aborted = await run({ orderId: "o-4", amount: 40, failAt: "shipping" });
    const earlier = new Date(Date.now() - 60_000).toISOString();
    await track(orderPlaced, flows.confirmed, earlier);
    await track(stockReserved, flows.confirmed, earlier);
    await track(orderConfirmed, flows.confirmed, earlier);
    await track(orderPlaced, flows.failed, earlier);
    await track(refundFailed, flows.failed, earlier);
    const api = sagaApi({ orchestrator: orch, tracker }, { basePath: "/admin/sagas" });
    server = createServer((req, res) => {
      if (api(req, res)) return;
      res.writeHead(418).end("not the saga API");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/sagas`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await orch?.close();
    await dropSchema(pool, schema);
    await pool.end();
  });

  async function getJson<T>(path: string): Promise<{ status: number; body: T; type: string | null }> {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as T, type: res.headers.get("content-type") };
  }

  async function post<T>(path: string, body?: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  const listIds = async (query: string) => {
    const { status, body } = await getJson<{ sagas: SagaView[] }>(query);
    expect(status).toBe(200);
    return body.sagas.map((s) => s.id);
  };

  it("lists orchestrated and choreographed sagas in one shape, newest first", async () => {
    const { status, body, type } = await getJson<{ sagas: SagaView[] }>("");
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(body.sagas.map((s) => s.id)).toEqual([
      ids.aborted,
      ids.failed,
      ids.compensated,
      ids.completed,
      ...[flows.confirmed, flows.failed].sort(),
    ]);
    const states = Object.fromEntries(body.sagas.map((s) => [s.id, `${s.style}:${s.state}`]));
    expect(states).toEqual({
      [ids.completed]: "orchestration:COMPLETED",
      [ids.compensated]: "orchestration:COMPENSATED",
      [ids.failed]: "orchestration:FAILED_COMPENSATION",
      [ids.aborted]: "orchestration:FAILED_COMPENSATION",
      [flows.confirmed]: "choreography:COMPLETED",
      [flows.failed]: "choreography:FAILED_COMPENSATION",
    });
    for (const view of body.sagas) {
      expect(Object.keys(view).sort()).toEqual(
        [
          "attempts",
          "correlationId",
          "createdAt",
          "data",
          "deadline",
          "endedAt",
          "error",
          "id",
          "input",
          "leaseOwner",
          "leaseUntil",
          "position",
          "state",
          "style",
          "type",
          "updatedAt",
          "version",
        ].sort(),
      );
    }
  });

  it("filters: failed only, failed=all, state, type, style, time and limit", async () => {
    expect((await listIds("?failed=true")).sort()).toEqual([ids.failed, ids.aborted, flows.failed].sort());
    expect((await listIds("?failed=all")).sort()).toEqual(
      [ids.failed, ids.aborted, ids.compensated, flows.failed].sort(),
    );
    expect(await listIds("?failed=true&state=COMPLETED")).toEqual([]);
    expect((await listIds("?state=COMPLETED,COMPENSATED")).sort()).toEqual(
      [ids.completed, ids.compensated, flows.confirmed].sort(),
    );
    expect((await listIds("?state=COMPLETED&state=COMPENSATED")).sort()).toEqual(
      [ids.completed, ids.compensated, flows.confirmed].sort(),
    );
    expect((await listIds("?type=order.fulfil")).sort()).toEqual([flows.confirmed, flows.failed].sort());
    expect((await listIds("?style=orchestration&failed=true")).sort()).toEqual(
      [ids.failed, ids.aborted].sort(),
    );
    expect((await listIds("?style=choreography&state=COMPLETED")).sort()).toEqual([flows.confirmed]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(await listIds(`?since=${encodeURIComponent(future)}`)).toEqual([]);
    const recent = new Date(Date.now() - 30_000).toISOString();
    expect((await listIds(`?until=${encodeURIComponent(recent)}`)).sort()).toEqual(
      [flows.confirmed, flows.failed].sort(),
    );
    expect(await listIds("?limit=2")).toEqual([ids.aborted, ids.failed]);
  });

  it("shows one orchestrated saga with its step history, input and data", async () => {
    const { status, body } = await getJson<SagaView>(`/${ids.compensated}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: ids.compensated,
      style: "orchestration",
      type: "order.place",
      state: SagaState.Compensated,
      input: { orderId: "o-2", amount: 20, failAt: "inventory" },
      data: {},
    });
    expect(body.endedAt).not.toBeNull();
    expect(body.error).toContain("out of stock");
    expect(body.steps?.map((s) => [s.step, s.kind, s.status, s.attempt])).toEqual([
      ["payment", "invoke", "succeeded", 1],
      ["inventory", "invoke", "failed", 1],
      ["payment", "compensate", "succeeded", 1],
    ]);
    const [payment, inventory] = body.steps ?? [];
    expect(payment?.result).toEqual({ chargeId: `saga:${ids.compensated}:payment:invoke`, amount: 20 });
    expect(inventory?.error).toContain("out of stock");
    expect(Date.parse(payment?.endedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(payment?.startedAt ?? ""));
  });

  it("shows one choreographed saga with the events seen as its steps", async () => {
    const { status, body } = await getJson<SagaView>(`/${flows.confirmed}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: flows.confirmed,
      style: "choreography",
      state: SagaState.Completed,
      data: null,
    });
    expect(body.steps?.map((s) => [s.step, s.role, s.kind, s.status])).toEqual([
      [orderPlaced.type, "start", "invoke", "succeeded"],
      [stockReserved.type, "step", "invoke", "succeeded"],
      [orderConfirmed.type, "completed", "invoke", "succeeded"],
    ]);
  });

  it("resumes a FAILED_COMPENSATION saga and aborts another", async () => {
    hooks.refundFailures = 0;
    const resumed = await post<SagaView>(`/${ids.failed}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.id).toBe(ids.failed);
    await orch.settled(ids.failed);
    expect((await getJson<SagaView>(`/${ids.failed}`)).body.state).toBe(SagaState.Compensated);

    const aborted = await post<SagaView>(
      `/${ids.aborted}/abort`,
      JSON.stringify({ reason: "refund done by hand" }),
    );
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({ state: SagaState.Aborted, error: "refund done by hand" });

    const again = await post<Problem>(`/${ids.aborted}/abort`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain("ABORTED");
    const completed = await post<Problem>(`/${ids.completed}/resume`);
    expect(completed.status).toBe(409);
    const choreographed = await post<Problem>(`/${flows.failed}/abort`);
    expect(choreographed.status).toBe(409);
    expect(choreographed.body.detail).toContain("choreographed");
    const missing = await post<Problem>(`/${randomUUID()}/resume`);
    expect(missing.status).toBe(404);
  });

  it("reports unfinished sagas of unknown types", async () => {
    const id = randomUUID();
    await orch.store.insert(pool, {
      id,
      type: "legacy.flow",
      version: 1,
      input: {},
      deadlineMs: undefined,
      traceparent: undefined,
      correlationId: undefined,
      leaseOwner: undefined,
      leaseTtlMs: 1000,
    });
    const { status, body } = await getJson<{ unknownTypes: { type: string; count: number }[] }>(
      "/_unknown-types",
    );
    expect(status).toBe(200);
    expect(body.unknownTypes).toEqual([{ type: "legacy.flow", count: 1 }]);
    expect((await getJson<SagaView>(`/${id}`)).body.state).toBe(SagaState.Running);
  });

  it("answers bad requests with problem+json naming what was wrong", async () => {
    const cases: [string, number, string][] = [
      ["?state=DONE", 400, "state"],
      ["?failed=yes", 400, "failed"],
      ["?limit=0", 400, "limit"],
      ["?limit=abc", 400, "limit"],
      ["?since=yesterday", 400, "since"],
      ["?style=both", 400, "style"],
      ["?failedOnly=true", 400, "failedOnly"],
      ["?type=a&type=b", 400, "type"],
      [`/${randomUUID()}`, 404, "no saga"],
      ["/not-a-uuid", 404, "no saga"],
      [`/${ids.completed}/steps`, 404, "no such saga resource"],
      ["/%E0%A4%A", 400, "percent-encoding"],
    ];
    for (const [path, status, mention] of cases) {
      const res = await getJson<Problem>(path);
      expect({ path, status: res.status, type: res.type }).toEqual({
        path,
        status,
        type: "application/problem+json",
      });
      expect(res.body.detail).toContain(mention);
    }
    const wrongMethod = await fetch(base, { method: "POST", body: "{}" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET");
    await wrongMethod.body?.cancel();
    const getResume = await fetch(`${base}/${ids.completed}/resume`);
    expect(getResume.status).toBe(405);
    expect(getResume.headers.get("allow")).toBe("POST");
    await getResume.body?.cancel();
    const notJson = await post<Problem>(`/${ids.completed}/abort`, "{nope");
    expect(notJson.status).toBe(400);
    expect(notJson.body.detail).toContain("not valid JSON");
    const extra = await post<Problem>(`/${ids.completed}/abort`, JSON.stringify({ why: "x" }));
    expect(extra.status).toBe(400);
    expect(extra.body.detail).toContain('"why"');
    const tooLarge = await post<Problem>(
      `/${ids.completed}/abort`,
      JSON.stringify({ reason: "x".repeat(20_000) }),
    );
    expect(tooLarge.status).toBe(413);
    const elsewhere = await fetch(base.replace("/admin/sagas", "/other"));
    expect(elsewhere.status).toBe(418);
    await elsewhere.body?.cancel();
  });

  it("refuses bad options and sources", () => {
    expect(() => sagaApi(orch, { basePath: "sagas/" })).toThrow(/basePath/);
    try {
      sagaApi({} as Orchestrator);
    } catch (error) {
      expect(error).toBeInstanceOf(SagaError);
      expect((error as SagaError).code).toBe(SagaErrorCode.OptionsInvalid);
      expect((error as SagaError).message).toContain("source.orchestrator");
      return;
    }
    throw new Error("sagaApi accepted a source that is not an orchestrator");
  });
});
