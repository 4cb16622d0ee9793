// idempotentCommand with participantInbox on the real PostgreSQL and the memory transport: a
// command re-sent with the same id or the same saga key is answered with the first reply and the
// handler runs once; permanent failures and garbage replies are stored and answered the same way.
import {
  type Consumer,
  commandFailed,
  consumer,
  createEnvelope,
  decodeEnvelope,
  defineEvent,
  type Envelope,
  encodeEnvelope,
  type MemoryTransport,
  memoryTransport,
  PermanentError,
  type Subscription,
} from "@flotilla/messaging";
import type pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type CompensatedInvocation, idempotentCommand } from "../src/participant/idempotent-command.js";
import { participantInbox } from "../src/participant/participant-inbox.js";
import { type ParticipantTables, participantTables } from "../src/participant/participant-tables.js";
import { sagaCompensatesHeader } from "../src/participant/saga-compensates-header.js";
import { sagaKeyHeader } from "../src/participant/saga-key-header.js";
import { sagaStepKey, sagaStepMessageId } from "../src/saga-step-key.js";
import { testPool, testSchema, waitFor } from "./fixtures/participant-test-db.js";

const chargePayment = defineEvent({
  type: "payments.charge-payment",
  schema: z.object({ orderId: z.string(), amount: z.number().int().positive() }),
});
const paymentCharged = defineEvent({
  type: "payments.payment-charged",
  schema: z.object({ chargeId: z.string() }),
});
const refundPayment = defineEvent({
  type: "payments.refund-payment",
  schema: z.object({ orderId: z.string() }),
});
const paymentRefunded = defineEvent({
  type: "payments.payment-refunded",
  schema: z.object({ refunded: z.array(z.string()) }),
});
const replyTopic = "replies.orders";

describe("idempotentCommand", () => {
  let pool: pg.Pool;
  let schema: string;
  let tables: ParticipantTables;
  let transport: MemoryTransport;
  let payments: Consumer | undefined;
  let replySubscription: Subscription;
  let replies: Envelope[];
  let runs: number;
  let behaviour: "charge" | "decline" | "garbage";
  let handedToCharge: unknown[];
  let handedToRefund: (CompensatedInvocation | undefined)[];

  beforeEach(async () => {
    pool = testPool();
    schema = testSchema("saga_cmd");
    tables = participantTables({ schema });
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(`CREATE TABLE "${schema}".charges (order_id text, amount int)`);
    await pool.query(`CREATE TABLE "${schema}".refunds (charge_id text)`);
    transport = memoryTransport();
    replies = [];
    runs = 0;
    behaviour = "charge";
    handedToCharge = [];
    handedToRefund = [];
    replySubscription = await transport.subscribe({
      queue: "orders-replies",
      topics: [replyTopic],
      prefetch: 16,
      handler: async (delivery) => {
        replies.push(decodeEnvelope(delivery.message.body));
        await delivery.ack();
      },
    });
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
          async (command, { tx }, compensates) => {
            runs++;
            handedToCharge.push(compensates);
            if (behaviour === "decline") throw new PermanentError("card declined");
            await tx!.query(`INSERT INTO "${schema}".charges VALUES ($1, $2)`, [
              command.data.orderId,
              command.data.amount,
            ]);
            if (behaviour === "garbage") return { chargeId: 42 } as never;
            return { chargeId: `ch-${command.data.orderId}` };
          },
          { tables },
        ),
        // Refunds whatever charge the compensated invocation made here, found through its reply.
        idempotentCommand(
          refundPayment,
          paymentRefunded,
          async (_command, { tx }, compensates) => {
            handedToRefund.push(compensates);
            const reply = compensates?.reply;
            if (reply?.type !== paymentCharged.type) return { refunded: [] };
            const { chargeId } = reply.data as { chargeId: string };
            await tx!.query(`INSERT INTO "${schema}".refunds VALUES ($1)`, [chargeId]);
            return { refunded: [chargeId] };
          },
          { tables },
        ),
      ],
    });
    await payments.start();
  });

  afterEach(async () => {
    await payments?.close();
    await replySubscription.close();
    await transport.close();
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  });

  /** Publishes the command of saga `sagaId`'s payment step, with the saga key header and the derived id unless told otherwise. */
  async function send(sagaId: string, options: { id?: string; header?: boolean } = {}): Promise<string> {
    const key = sagaStepKey(sagaId, "payment", "invoke");
    const envelope = createEnvelope({
      type: chargePayment.type,
      source: "/services/orders",
      id: options.id ?? sagaStepMessageId(sagaId, "payment", "invoke"),
      data: { orderId: sagaId, amount: 25 },
      correlationid: sagaId,
      replyto: replyTopic,
    });
    await transport.publish([
      {
        id: envelope.id,
        topic: chargePayment.topic,
        body: encodeEnvelope(envelope),
        ...(options.header === false ? {} : { headers: { [sagaKeyHeader]: key } }),
      },
    ]);
    return envelope.id;
  }

  /** Publishes the compensation of saga `sagaId`'s payment step, as `commandStep` sends it. */
  async function sendRefund(sagaId: string): Promise<string> {
    const envelope = createEnvelope({
      type: refundPayment.type,
      source: "/services/orders",
      id: sagaStepMessageId(sagaId, "payment", "compensate"),
      data: { orderId: sagaId },
      correlationid: sagaId,
      replyto: replyTopic,
    });
    await transport.publish([
      {
        id: envelope.id,
        topic: refundPayment.topic,
        body: encodeEnvelope(envelope),
        headers: {
          [sagaKeyHeader]: sagaStepKey(sagaId, "payment", "compensate"),
          [sagaCompensatesHeader]: sagaStepKey(sagaId, "payment", "invoke"),
        },
      },
    ]);
    return envelope.id;
  }

  async function refunds(): Promise<string[]> {
    const { rows } = await pool.query(`SELECT charge_id FROM "${schema}".refunds ORDER BY charge_id`);
    return rows.map((row: { charge_id: string }) => row.charge_id);
  }

  async function charges(orderId: string): Promise<number> {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM "${schema}".charges WHERE order_id = $1`,
      [orderId],
    );
    return rows[0].n;
  }

  const repliesTo = (id: string) => replies.filter((reply) => reply.correlationid === id);

  it("answers a command re-sent with the same id with the first reply, without running the handler again", async () => {
    const id = await send("saga-a");
    await waitFor("the first reply", () => repliesTo(id).length === 1);
    await send("saga-a");
    await waitFor("the second reply", () => repliesTo(id).length === 2);
    const [first, second] = repliesTo(id);
    expect(first!.type).toBe(paymentCharged.type);
    expect(second!.data).toEqual(first!.data);
    expect(second!.data).toEqual({ chargeId: "ch-saga-a" });
    expect(runs).toBe(1);
    expect(await charges("saga-a")).toBe(1);
  });

  it("answers a command with another id but the same saga key header with the first reply", async () => {
    const first = await send("saga-b");
    await waitFor("the first reply", () => repliesTo(first).length === 1);
    const other = await send("saga-b", { id: "0e0e0e0e-0000-4000-8000-000000000001" });
    await waitFor("the reply to the other id", () => repliesTo(other).length === 1);
    expect(repliesTo(other)[0]!.data).toEqual(repliesTo(first)[0]!.data);
    expect(repliesTo(other)[0]!.causationid).toBe(other);
    expect(runs).toBe(1);
    expect(await charges("saga-b")).toBe(1);
  });

  it("runs the handler once for duplicates delivered together", async () => {
    const ids = await Promise.all([send("saga-c"), send("saga-c"), send("saga-c")]);
    await waitFor("three replies", () => repliesTo(ids[0]!).length === 3);
    expect(new Set(repliesTo(ids[0]!).map((reply) => JSON.stringify(reply.data))).size).toBe(1);
    expect(runs).toBe(1);
    expect(await charges("saga-c")).toBe(1);
  });

  it("stores a permanent failure: the repeat gets the same failure and the handler does not run again", async () => {
    behaviour = "decline";
    const id = await send("saga-d");
    await waitFor("the failure reply", () => repliesTo(id).length === 1);
    behaviour = "charge";
    await send("saga-d");
    await waitFor("the second failure reply", () => repliesTo(id).length === 2);
    for (const reply of repliesTo(id)) {
      expect(reply.type).toBe(commandFailed.type);
      expect(reply.data).toEqual({
        command: chargePayment.type,
        code: "permanent",
        message: "card declined",
      });
    }
    expect(runs).toBe(1);
    expect(await charges("saga-d")).toBe(0);
  });

  it("treats a reply failing its schema as a stored step failure with the reason, its effects rolled back", async () => {
    behaviour = "garbage";
    const id = await send("saga-e");
    await waitFor("the failure reply", () => repliesTo(id).length === 1);
    const reply = repliesTo(id)[0]!;
    expect(reply.type).toBe(commandFailed.type);
    expect((reply.data as { message: string }).message).toMatch(/chargeId: .*expected string/i);
    expect(await charges("saga-e")).toBe(0);
  });

  it("keys a command without the saga key header by its envelope id", async () => {
    const id = await send("saga-f", { header: false });
    await waitFor("the first reply", () => repliesTo(id).length === 1);
    await send("saga-f", { header: false });
    await waitFor("the second reply", () => repliesTo(id).length === 2);
    expect(runs).toBe(1);
    const { rows } = await pool.query(`SELECT key FROM ${tables.replies}`);
    expect(rows).toEqual([{ key: `message:${id}` }]);
  });

  it("refuses a key first used by another command type", async () => {
    const refund = defineEvent({ type: "payments.refund", schema: z.object({ orderId: z.string() }) });
    const refunded = defineEvent({ type: "payments.refunded", schema: z.object({}) });
    const handler = idempotentCommand(refund, refunded, async () => ({}), { tables });
    const id = await send("saga-g");
    await waitFor("the first reply", () => repliesTo(id).length === 1);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const envelope = createEnvelope({
        type: refund.type,
        source: "/t",
        data: { orderId: "x" },
        replyto: replyTopic,
      });
      const run = handler.run(
        envelope,
        {
          tx: client,
          attempt: 1,
          logger: { debug() {}, info() {}, warn() {}, error() {} },
          signal: new AbortController().signal,
          message: {
            id: envelope.id,
            topic: refund.topic,
            body: encodeEnvelope(envelope),
            headers: { [sagaKeyHeader]: sagaStepKey("saga-g", "payment", "invoke") },
          },
        },
        { source: "/t", publish: async () => undefined },
      );
      await expect(run).rejects.toThrow(/first used by a "payments.charge-payment" command/);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });

  it("hands a compensation what its invocation answered here, and a plain command nothing", async () => {
    const charge = await send("saga-r1");
    await waitFor("the charge's reply", () => repliesTo(charge).length === 1);
    const refund = await sendRefund("saga-r1");
    await waitFor("the refund's reply", () => repliesTo(refund).length === 1);
    expect(handedToCharge).toEqual([undefined]);
    expect(handedToRefund).toEqual([
      {
        key: sagaStepKey("saga-r1", "payment", "invoke"),
        reply: { type: paymentCharged.type, data: { chargeId: "ch-saga-r1" } },
      },
    ]);
    expect(repliesTo(refund)[0]!.data).toEqual({ refunded: ["ch-saga-r1"] });
    expect(await refunds()).toEqual(["ch-saga-r1"]);
  });

  it("fences an invocation compensated before it arrived: it is refused and never runs", async () => {
    const refund = await sendRefund("saga-r2");
    await waitFor("the refund's reply", () => repliesTo(refund).length === 1);
    expect(handedToRefund).toEqual([{ key: sagaStepKey("saga-r2", "payment", "invoke"), reply: undefined }]);
    expect(repliesTo(refund)[0]!.data).toEqual({ refunded: [] });

    const charge = await send("saga-r2");
    await waitFor("the late charge's reply", () => repliesTo(charge).length === 1);
    const late = repliesTo(charge)[0]!;
    expect(late.type).toBe(commandFailed.type);
    expect(late.data).toMatchObject({ code: "compensated" });
    expect(runs).toBe(0);
    expect(await charges("saga-r2")).toBe(0);
  });

  it("answers a repeated compensation with its first reply; the invocation stays fenced", async () => {
    const first = await sendRefund("saga-r3");
    await waitFor("the first refund reply", () => repliesTo(first).length === 1);
    await sendRefund("saga-r3");
    await waitFor("the second refund reply", () => repliesTo(first).length === 2);
    expect(handedToRefund).toHaveLength(1);
    const charge = await send("saga-r3");
    await waitFor("the late charge's reply", () => repliesTo(charge).length === 1);
    expect(repliesTo(charge)[0]!.type).toBe(commandFailed.type);
    expect(runs).toBe(0);
  });

  it("refuses definitions that are not events", () => {
    expect(() => idempotentCommand({} as never, paymentCharged, async () => ({ chargeId: "x" }))).toThrow(
      /command must be a defineEvent/,
    );
  });
});
