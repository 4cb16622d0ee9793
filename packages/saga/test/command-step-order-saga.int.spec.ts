// commandStep end to end: the three-step order saga whose payment (and refund) goes over
// messaging (memory transport) to a participant consumer on the real PostgreSQL using
// idempotentCommand + participantInbox; a command re-sent after an orchestrator crash is answered
// with the stored reply and charges once.
import { randomUUID } from "node:crypto";
import {
  type CommandRequester,
  type Consumer,
  commandRequester,
  consumer,
  defineEvent,
  type MemoryTransport,
  memoryTransport,
  PermanentError,
} from "@flotilla/messaging";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type CommandSender, commandStep } from "../src/definition/command-step.js";
import { defineSaga } from "../src/definition/define-saga.js";
import type { StepContext } from "../src/definition/step-options.js";
import { type Orchestrator, orchestrator } from "../src/orchestrator/orchestrator.js";
import { idempotentCommand } from "../src/participant/idempotent-command.js";
import { participantInbox } from "../src/participant/participant-inbox.js";
import { participantTables } from "../src/participant/participant-tables.js";
import { SagaError, SagaErrorCode } from "../src/saga-error.js";
import { SagaState } from "../src/saga-state.js";
import { sagaStepMessageId } from "../src/saga-step-key.js";
import { dropSchema, testPool, testSchema, waitUntil } from "./fixtures/order-saga-fixture.js";

const chargePayment = defineEvent({
  type: "payments.charge-payment",
  schema: z.object({ orderId: z.string(), amount: z.number().int().positive() }),
});
const paymentCharged = defineEvent({
  type: "payments.payment-charged",
  schema: z.object({ chargeId: z.string(), amount: z.number().int() }),
});
const refundPayment = defineEvent({
  type: "payments.refund-payment",
  schema: z.object({ chargeId: z.string(), amount: z.number().int() }),
});
const paymentRefunded = defineEvent({
  type: "payments.payment-refunded",
  schema: z.object({ refundId: z.string() }),
});

const orderInput = z.object({
  orderId: z.string().min(1),
  amount: z.number().int().positive(),
  failAt: z.enum(["inventory", "shipping"]).optional(),
});
type OrderInput = z.infer<typeof orderInput>;

describe("commandStep", () => {
  const pool = testPool(20);
  let schema: string;
  let transport: MemoryTransport;
  let payments: Consumer;
  let charges: { orderId: string; messageId: string }[];
  let decline: boolean;
  /** How long the charge handler works before answering: beyond the step's timeout, the outcome is uncertain. */
  let chargeDelayMs: number;
  const requesters: CommandRequester[] = [];
  const orchestrators: Orchestrator[] = [];

  beforeEach(async () => {
    schema = testSchema();
    charges = [];
    decline = false;
    chargeDelayMs = 0;
    await pool.query(`CREATE SCHEMA "${schema}";
      CREATE TABLE "${schema}".charges (charge_id text PRIMARY KEY, order_id text NOT NULL, amount int NOT NULL);
      CREATE TABLE "${schema}".refunds (refund_id text PRIMARY KEY, charge_id text NOT NULL, amount int NOT NULL);
      CREATE TABLE "${schema}".reservations (key text PRIMARY KEY, order_id text NOT NULL, kind text NOT NULL);
      CREATE TABLE "${schema}".shipments (key text PRIMARY KEY, order_id text NOT NULL);`);
    transport = memoryTransport();
    const tables = participantTables({ schema });
    payments = consumer({
      name: "payments",
      transport,
      db: pool,
      inbox: participantInbox({ schema, tables }),
      retry: { maxAttempts: 2, backoff: () => 0 },
      handlers: [
        idempotentCommand(
          chargePayment,
          paymentCharged,
          async (command, { tx }) => {
            if (decline) throw new PermanentError("card declined");
            if (chargeDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, chargeDelayMs));
            const chargeId = `ch-${command.id}`;
            await tx!.query(`INSERT INTO "${schema}".charges VALUES ($1, $2, $3)`, [
              chargeId,
              command.data.orderId,
              command.data.amount,
            ]);
            charges.push({ orderId: command.data.orderId, messageId: command.id });
            return { chargeId, amount: command.data.amount };
          },
          { tables },
        ),
        idempotentCommand(
          refundPayment,
          paymentRefunded,
          async (command, { tx }, compensates) => {
            // Without a charge id (the charge's outcome was uncertain at the orchestrator), refund
            // the charge this participant made for the invocation, if it made one.
            const charged =
              compensates?.reply?.type === paymentCharged.type
                ? (compensates.reply.data as { chargeId: string; amount: number })
                : undefined;
            const chargeId = command.data.chargeId || charged?.chargeId;
            if (chargeId === undefined) return { refundId: "none" };
            const refundId = `rf-${command.id}`;
            await tx!.query(`INSERT INTO "${schema}".refunds VALUES ($1, $2, $3)`, [
              refundId,
              chargeId,
              command.data.chargeId === "" ? (charged?.amount ?? 0) : command.data.amount,
            ]);
            return { refundId };
          },
          { tables },
        ),
      ],
    });
    await payments.start();
  });

  afterEach(async () => {
    for (const o of orchestrators.splice(0)) await o.close();
    for (const r of requesters.splice(0)) await r.close();
    await payments.close();
    await transport.close();
    await dropSchema(pool, schema);
  });
  afterAll(async () => {
    await pool.end();
  });

  function requester(): CommandRequester {
    const r = commandRequester({
      transport,
      replyTopic: `replies.orders-${randomUUID().slice(0, 8)}`,
      source: "/services/orders",
      timeout: "10s",
    });
    requesters.push(r);
    return r;
  }

  /**
   * The order saga of one orchestrator "process": payment over messaging (compensation given as the
   * `compensateWith` option, or `chained` with the method), inventory and shipping in-process.
   */
  function orderSaga(via: CommandSender, options: { chained?: boolean } = {}) {
    const s = `"${schema}"`;
    const saga = defineSaga({ type: "order.place", input: orderInput });
    const paid = options.chained
      ? saga.step(
          "payment",
          commandStep(
            via,
            chargePayment,
            (ctx: StepContext<OrderInput, object>) => ({
              orderId: ctx.input.orderId,
              amount: ctx.input.amount,
            }),
            { reply: paymentCharged },
          ).compensateWith(refundPayment, (ctx) => ({
            chargeId: ctx.result?.chargeId ?? "",
            amount: ctx.result?.amount ?? 0,
          })),
        )
      : saga.step(
          "payment",
          commandStep(
            via,
            chargePayment,
            (ctx) => ({ orderId: ctx.input.orderId, amount: ctx.input.amount }),
            {
              reply: paymentCharged,
              compensateWith: {
                command: refundPayment,
                data: (ctx) => ({ chargeId: ctx.result?.chargeId ?? "", amount: ctx.result?.amount ?? 0 }),
              },
            },
          ),
        );
    return paid
      .step("inventory", {
        retry: { maxAttempts: 1 },
        invoke: async (ctx) => {
          if (ctx.input.failAt === "inventory") throw new PermanentError("out of stock");
          await pool.query(
            `INSERT INTO ${s}.reservations VALUES ($1, $2, 'reserve') ON CONFLICT (key) DO NOTHING`,
            [ctx.idempotencyKey, ctx.input.orderId],
          );
          return { reservationId: ctx.idempotencyKey, charge: ctx.data.payment.chargeId };
        },
        compensate: async (ctx) => {
          await pool.query(
            `INSERT INTO ${s}.reservations VALUES ($1, $2, 'release') ON CONFLICT (key) DO NOTHING`,
            [ctx.idempotencyKey, ctx.input.orderId],
          );
        },
      })
      .step("shipping", {
        invoke: async (ctx) => {
          await pool.query(`INSERT INTO ${s}.shipments VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [
            ctx.idempotencyKey,
            ctx.input.orderId,
          ]);
          return { shipmentId: ctx.idempotencyKey };
        },
      })
      .build();
  }

  /** An orchestrator "process" running `saga`. */
  async function start(saga: ReturnType<typeof orderSaga>): Promise<Orchestrator> {
    const orch = orchestrator({
      db: pool,
      sagas: [saga],
      schema,
      leaseTtl: "5s",
      pollInterval: "50ms",
      compensation: { maxAttempts: 3, backoff: () => 5 },
    });
    orchestrators.push(orch);
    await orch.start();
    return orch;
  }

  const count = async (table: string) =>
    Number((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".${table}`)).rows[0].n);

  it("completes the order saga with the payment sent as a command with the step's id and key", async () => {
    const saga = orderSaga(requester());
    const orch = await start(saga);
    const { id } = await orch.startSaga(saga, { orderId: "o-1", amount: 42 });
    const row = await orch.settled(id);
    expect(row?.state).toBe(SagaState.Completed);
    const messageId = sagaStepMessageId(id, "payment", "invoke");
    expect(charges).toEqual([{ orderId: "o-1", messageId }]);
    const found = await orch.get(id);
    expect(found?.saga.data.payment).toEqual({ chargeId: `ch-${messageId}`, amount: 42 });
    expect(found?.saga.data.inventory).toEqual({
      reservationId: `saga:${id}:inventory:invoke`,
      charge: `ch-${messageId}`,
    });
    const { rows } = await pool.query(`SELECT key, message_id FROM "${schema}".saga_participant_replies`);
    expect(rows).toEqual([{ key: `saga:${id}:payment:invoke`, message_id: messageId }]);
  });

  it("answers a command re-sent after an orchestrator crash with the stored reply, and charges once", async () => {
    let closed: () => void = () => {};
    const firstClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    let crashed = false;
    // The reply is in, the step's result not yet committed: the orchestrator stops there.
    const crashing = requester();
    const via: CommandSender = {
      send: (async (...args: Parameters<CommandSender["send"]>) => {
        const reply = await crashing.send(...args);
        if (!crashed) {
          crashed = true;
          void first.close().then(closed);
          await firstClosed;
        }
        return reply;
      }) as CommandSender["send"],
    };
    const saga = orderSaga(via);
    const first = await start(saga);
    const { id } = await first.startSaga(saga, { orderId: "o-2", amount: 7 });
    const stopped = await first.settled(id);
    await first.close();
    expect(crashed).toBe(true);
    expect(stopped?.state).toBe(SagaState.Running);
    expect((await first.get(id))?.steps).toEqual([]);
    expect(charges).toHaveLength(1);

    const second = await start(orderSaga(requester()));
    const row = await waitForSettled(second, id);
    expect(row.state).toBe(SagaState.Completed);
    expect(charges).toHaveLength(1);
    expect(await count("charges")).toBe(1);
    const found = await second.get(id);
    expect(found?.saga.data.payment).toEqual({
      chargeId: `ch-${sagaStepMessageId(id, "payment", "invoke")}`,
      amount: 7,
    });
    expect(found?.steps.map((s) => `${s.step}:${s.kind}:${s.status}:${s.attempt}`)).toEqual([
      "payment:invoke:succeeded:1",
      "inventory:invoke:succeeded:1",
      "shipping:invoke:succeeded:1",
    ]);
  });

  it.each([
    ["the compensateWith option", false],
    ["the chained compensateWith()", true],
  ])("compensates the payment over messaging when a later step fails (%s)", async (_, chained) => {
    const saga = orderSaga(requester(), { chained });
    const orch = await start(saga);
    const { id } = await orch.startSaga(saga, { orderId: "o-3", amount: 9, failAt: "inventory" });
    const row = await orch.settled(id);
    expect(row?.state).toBe(SagaState.Compensated);
    expect(await count("charges")).toBe(1);
    const { rows } = await pool.query(`SELECT refund_id, charge_id, amount FROM "${schema}".refunds`);
    const charge = `ch-${sagaStepMessageId(id, "payment", "invoke")}`;
    expect(rows).toEqual([
      { refund_id: `rf-${sagaStepMessageId(id, "payment", "compensate")}`, charge_id: charge, amount: 9 },
    ]);
    const steps = (await orch.get(id))?.steps ?? [];
    expect(steps.map((s) => `${s.step}:${s.kind}:${s.status}`)).toEqual([
      "payment:invoke:succeeded",
      "inventory:invoke:failed",
      "payment:compensate:succeeded",
    ]);
  });

  it("refunds a charge whose reply the orchestrator never got: the participant finds it through the invocation", async () => {
    chargeDelayMs = 600;
    const via = requester();
    const saga = defineSaga({ type: "order.place", input: orderInput })
      .step("payment", {
        ...commandStep(
          via,
          chargePayment,
          (ctx) => ({ orderId: ctx.input.orderId, amount: ctx.input.amount }),
          {
            reply: paymentCharged,
            timeout: "150ms",
            compensateWith: {
              command: refundPayment,
              data: (ctx) => ({ chargeId: ctx.result?.chargeId ?? "", amount: ctx.result?.amount ?? 0 }),
            },
          },
        ),
        retry: { maxAttempts: 1 },
      })
      .build();
    const orch = await start(saga as unknown as ReturnType<typeof orderSaga>);
    const { id } = await orch.startSaga(saga, { orderId: "o-9", amount: 12 });
    const row = await orch.settled(id);
    expect(row?.state).toBe(SagaState.Compensated);
    const steps = (await orch.get(id))?.steps ?? [];
    expect(steps.map((s) => `${s.step}:${s.kind}:${s.status}`)).toEqual([
      "payment:invoke:failed",
      "payment:compensate:succeeded",
    ]);
    const charge = `ch-${sagaStepMessageId(id, "payment", "invoke")}`;
    expect((await pool.query(`SELECT charge_id FROM "${schema}".charges`)).rows).toEqual([
      { charge_id: charge },
    ]);
    const { rows } = await pool.query(`SELECT charge_id, amount FROM "${schema}".refunds`);
    expect(rows).toEqual([{ charge_id: charge, amount: 12 }]);
  });

  it("fails the step, without retrying, with the participant's message when it answers with a failure", async () => {
    decline = true;
    const saga = orderSaga(requester());
    const orch = await start(saga);
    const { id } = await orch.startSaga(saga, { orderId: "o-4", amount: 5 });
    const row = await orch.settled(id);
    expect(row?.state).toBe(SagaState.Compensated);
    expect(row?.error).toMatch(/^FLT_SAGA_COMMAND_FAILED: .*payments\.charge-payment.*card declined/);
    const steps = (await orch.get(id))?.steps ?? [];
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ step: "payment", kind: "invoke", status: "failed", attempt: 1 });
    expect(await count("charges")).toBe(0);
  });

  it("rejects a definition given something that is not a requester", () => {
    expect(() =>
      commandStep({} as CommandRequester, chargePayment, () => ({ orderId: "x", amount: 1 }), {
        reply: paymentCharged,
      }),
    ).toThrow(SagaError);
    try {
      commandStep(requester(), chargePayment, () => ({ orderId: "x", amount: 1 }), {} as never);
    } catch (error) {
      expect(error).toBeInstanceOf(SagaError);
      expect((error as SagaError).code).toBe(SagaErrorCode.DefinitionInvalid);
      expect((error as SagaError).message).toContain("options.reply");
      return;
    }
    throw new Error("commandStep accepted options without reply");
  });

  /** The saga's row once it has left RUNNING/COMPENSATING (claimed and run by `orch`); fails after 15 s. */
  async function waitForSettled(orch: Orchestrator, id: string) {
    let row = (await orch.get(id))?.saga;
    await waitUntil(async () => {
      await orch.settled(id);
      row = (await orch.get(id))?.saga;
      return row !== undefined && row.state !== SagaState.Running && row.state !== SagaState.Compensating;
    }, `saga ${id} to finish`);
    return row!;
  }
});
