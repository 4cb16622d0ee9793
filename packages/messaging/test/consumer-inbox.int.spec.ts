// The consumer with a PostgreSQL inbox: exactly-once effects, rollback of failed handlers,
// savepoint isolation in a batch, bad input, poison, and an unreachable database.
import { FakeClock } from "@flotilla/resilience/testing";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Consumer, consumer } from "../src/consumer/consumer.js";
import type { ConsumerOptions } from "../src/consumer/consumer-options.js";
import { on } from "../src/consumer/event-handler.js";
import { defineEvent } from "../src/envelope/define-event.js";
import { createEnvelope } from "../src/envelope/envelope.js";
import { encodeEnvelope } from "../src/envelope/envelope-codec.js";
import { PermanentError } from "../src/errors/messaging-error.js";
import { type Inbox, inbox } from "../src/inbox/inbox.js";
import type { TransportMessage } from "../src/transport/transport.js";
import {
  consumerTestPool,
  consumerTestSchema,
  dropConsumerTestSchema,
  pgServer,
  recordingLogger,
} from "./fixtures/consumer-test-db.js";
import { ConsumerTestTransport, type Settlement } from "./fixtures/consumer-test-transport.js";
import { type TcpProxy, tcpProxy } from "./fixtures/tcp-proxy.js";

const orderPlaced = defineEvent({
  type: "orders.order-placed",
  schema: z.object({ orderId: z.string(), fail: z.enum(["transient", "permanent"]).optional() }),
});

function message(data: unknown, id?: string): TransportMessage {
  const envelope = createEnvelope({
    type: orderPlaced.type,
    source: "/test",
    data,
    ...(id === undefined ? {} : { id }),
  });
  return { id: envelope.id, topic: orderPlaced.topic, body: encodeEnvelope(envelope) };
}

function kinds(settlements: readonly Settlement[]): Record<string, string> {
  return Object.fromEntries(
    settlements.map((s) => [s.id, s.kind === "dead-letter" ? s.reason.code : s.kind]),
  );
}

describe("consumer with a PostgreSQL inbox", () => {
  let pool: pg.Pool;
  let schema: string;
  let box: Inbox;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    pool = consumerTestPool();
    schema = consumerTestSchema();
    box = inbox({ schema });
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(
      `CREATE TABLE "${schema}".effects (order_id text PRIMARY KEY, attempt int NOT NULL, txid bigint NOT NULL)`,
    );
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await dropConsumerTestSchema(pool, schema);
    await pool.end();
  });

  /** The handler: writes one effect row with the transaction's client, then fails if told to. */
  const writeEffect = (runs: string[] = []) =>
    on(orderPlaced, async (event, { tx, attempt }) => {
      runs.push(event.data.orderId);
      await tx!.query(`INSERT INTO "${schema}".effects VALUES ($1, $2, txid_current())`, [
        event.data.orderId,
        attempt,
      ]);
      if (event.data.fail === "permanent") throw new PermanentError(`order ${event.data.orderId} refused`);
      if (event.data.fail === "transient" && attempt === 1) throw new Error("lock timeout");
    });

  async function start(
    options: Partial<ConsumerOptions> & { transport: ConsumerTestTransport },
  ): Promise<Consumer> {
    const c = consumer({
      name: "billing",
      db: pool,
      inbox: box,
      handlers: [writeEffect()],
      retry: { backoff: () => 0 },
      ...options,
    });
    cleanups.push(async () => {
      await c.close();
      await options.transport.close();
    });
    await c.start();
    return c;
  }

  const effects = async () =>
    (await pool.query(`SELECT order_id, attempt FROM "${schema}".effects ORDER BY order_id`)).rows;
  const recorded = async () =>
    (await pool.query(`SELECT consumer, message_id FROM ${box.table} ORDER BY message_id`)).rows;

  it("runs a message's handler once: a redelivery is acknowledged and skipped", async () => {
    const transport = new ConsumerTestTransport();
    const registry = new Registry();
    const runs: string[] = [];
    const c = await start({ transport, registry, handlers: [writeEffect(runs)] });
    const m = message({ orderId: "o-1" });
    await transport.publish([m]);
    await transport.settlements.waitForCount(1, { what: "the first ack" });
    transport.inject(m, 2);
    const settlements = await transport.settlements.waitForCount(2, { what: "the second ack" });
    expect(settlements.map((s) => s.kind)).toEqual(["ack", "ack"]);
    expect(runs).toEqual(["o-1"]);
    expect(await effects()).toEqual([{ order_id: "o-1", attempt: 1 }]);
    expect(await recorded()).toEqual([{ consumer: "billing", message_id: m.id }]);
    await c.close();
    const text = await registry.metrics();
    expect(text).toMatch(
      /flotilla_messages_consumed_total\{consumer="billing",type="orders.order-placed",outcome="acked"\} 1/,
    );
    expect(text).toMatch(
      /flotilla_messages_consumed_total\{consumer="billing",type="orders.order-placed",outcome="duplicate"\} 1/,
    );
  });

  it("rolls back a failed handler's effects and its inbox record, so the retry runs it again", async () => {
    const clock = new FakeClock();
    const transport = new ConsumerTestTransport({ clock });
    await start({ transport, retry: { backoff: () => 1_000 } });
    const m = message({ orderId: "o-1", fail: "transient" });
    await transport.publish([m]);
    const [retry] = await transport.settlements.waitForCount(1, { what: "the retry" });
    expect(retry).toMatchObject({ kind: "retry", attempt: 1, delayMs: 1_000, error: "lock timeout" });
    expect(await effects()).toEqual([]);
    expect(await recorded()).toEqual([]);
    await clock.advance(1_000);
    const settlements = await transport.settlements.waitForCount(2, { what: "the ack of the retry" });
    expect(settlements[1]).toEqual({ kind: "ack", id: m.id, attempt: 2 });
    expect(await effects()).toEqual([{ order_id: "o-1", attempt: 2 }]);
    expect(await recorded()).toEqual([{ consumer: "billing", message_id: m.id }]);
  });

  it("handles deliveries that arrive together in one transaction, rolling back a failed handler alone", async () => {
    const transport = new ConsumerTestTransport();
    const runs: string[] = [];
    await start({ transport, batch: { concurrency: 1 }, handlers: [writeEffect(runs)] });
    const batch = [
      message({ orderId: "o-1" }),
      message({ orderId: "o-2", fail: "permanent" }),
      message({ orderId: "o-3" }),
      message({ orderId: "o-4", fail: "transient" }),
      message({ orderId: "o-5" }),
    ];
    await transport.publish(batch);
    const settlements = await transport.settlements.waitForCount(5, { what: "five settlements" });
    expect(kinds(settlements)).toEqual({
      [batch[0]!.id]: "ack",
      [batch[1]!.id]: "permanent",
      [batch[2]!.id]: "ack",
      [batch[3]!.id]: "retry",
      [batch[4]!.id]: "ack",
    });
    const { rows } = await pool.query(`SELECT DISTINCT txid FROM "${schema}".effects`);
    expect(rows).toHaveLength(1);
    expect((await effects()).map((row) => row.order_id)).toEqual(["o-1", "o-3", "o-5"]);
    expect((await recorded()).map((row) => row.message_id).sort()).toEqual(
      [batch[0]!.id, batch[2]!.id, batch[4]!.id].sort(),
    );
    // The first pass stops at o-2 and rolls back; the second runs the rest, each in a savepoint.
    expect(runs.slice(0, 6)).toEqual(["o-1", "o-2", "o-1", "o-3", "o-4", "o-5"]);
    await transport.settlements.waitForCount(6, { what: "the ack of the retried message" });
    expect((await effects()).map((row) => row.order_id)).toEqual(["o-1", "o-3", "o-4", "o-5"]);
  });

  it("skips the second copy of a message delivered twice in one batch", async () => {
    const transport = new ConsumerTestTransport();
    const runs: string[] = [];
    await start({ transport, handlers: [writeEffect(runs)], batch: { concurrency: 1 } });
    const m = message({ orderId: "o-1" });
    await transport.publish([m, m]);
    const settlements = await transport.settlements.waitForCount(2, { what: "two acks" });
    expect(settlements.map((s) => s.kind)).toEqual(["ack", "ack"]);
    expect(runs).toEqual(["o-1"]);
  });

  it("dead-letters bad input and poison messages without touching the inbox, and goes on", async () => {
    const transport = new ConsumerTestTransport();
    await start({ transport, retry: { maxAttempts: 3, backoff: () => 0 } });
    const malformed: TransportMessage = { id: "bad-1", topic: orderPlaced.topic, body: Buffer.from("[]") };
    const invalid = message({ orderId: 7 });
    const good = message({ orderId: "o-1" });
    await transport.publish([malformed, invalid, good]);
    const poison = message({ orderId: "o-2" });
    transport.inject(poison, 4);
    const settlements = await transport.settlements.waitForCount(4, { what: "four settlements" });
    expect(kinds(settlements)).toEqual({
      "bad-1": "malformed",
      [invalid.id]: "invalid",
      [good.id]: "ack",
      [poison.id]: "poison",
    });
    expect(await recorded()).toEqual([{ consumer: "billing", message_id: good.id }]);
  });

  it("sweeps old inbox records every interval when given a retention", async () => {
    const clock = new FakeClock();
    const { logger, lines } = recordingLogger();
    await start({
      transport: new ConsumerTestTransport(),
      clock,
      logger,
      retention: { olderThan: "1d", every: "1m" },
    });
    await box.record(pool, "billing", ["old", "new"]);
    await pool.query(
      `UPDATE ${box.table} SET received_at = now() - interval '2 days' WHERE message_id = 'old'`,
    );
    await clock.advance(59_999);
    expect(lines.items.some((l) => l.message === "inbox swept")).toBe(false);
    await clock.advance(1);
    const swept = await lines.waitFor((items) => items.some((l) => l.message === "inbox swept"), {
      what: "the first sweep",
    });
    expect(swept.find((l) => l.message === "inbox swept")?.fields).toMatchObject({ deleted: 1 });
    expect(await recorded()).toEqual([{ consumer: "billing", message_id: "new" }]);
    expect(clock.pendingTimers).toBe(1);
  });

  describe("with the database unreachable", () => {
    let proxy: TcpProxy;
    let proxied: pg.Pool;

    beforeEach(async () => {
      proxy = await tcpProxy(pgServer);
      proxied = consumerTestPool({ endpoint: proxy });
      cleanups.push(async () => {
        await proxied.end();
        await proxy.close();
      });
    });

    it("holds the deliveries and retries the transaction until it is back: nothing is dead-lettered", async () => {
      const transport = new ConsumerTestTransport();
      const { logger, lines } = recordingLogger();
      await start({ transport, db: proxied, logger, retry: { backoff: () => 50 } });
      await proxy.stop();
      const m = message({ orderId: "o-1" });
      await transport.publish([m]);
      await lines.waitFor(
        (items) => items.some((l) => l.message === "inbox database unavailable; holding deliveries"),
        {
          what: "the outage warning",
        },
      );
      await lines.waitFor(
        (items) => items.filter((l) => l.message === "inbox database still unavailable").length >= 2,
        {
          what: "two more tries",
        },
      );
      expect(transport.settlements.items).toEqual([]);
      await proxy.start();
      const [settlement] = await transport.settlements.waitForCount(1, { what: "the ack after the outage" });
      expect(settlement).toEqual({ kind: "ack", id: m.id, attempt: 1 });
      expect(await effects()).toEqual([{ order_id: "o-1", attempt: 1 }]);
      expect(lines.items.some((l) => l.message === "inbox database available again")).toBe(true);
    });

    it("retries the held deliveries when closed during the outage", async () => {
      const transport = new ConsumerTestTransport();
      const { logger, lines } = recordingLogger();
      const c = await start({ transport, db: proxied, logger, retry: { backoff: () => 60_000 } });
      await proxy.stop();
      await transport.publish([message({ orderId: "o-1" })]);
      await lines.waitFor((items) => items.some((l) => l.level === "warn"), { what: "the outage warning" });
      await c.close();
      expect(transport.settlements.items).toEqual([
        expect.objectContaining({
          kind: "retry",
          attempt: 1,
          error: expect.stringMatching(/inbox database unavailable/),
        }),
      ]);
    });
  });
});
