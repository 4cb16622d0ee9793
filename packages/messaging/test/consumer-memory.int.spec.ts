// The consumer on the memory transport with a PostgreSQL inbox: exactly-once effects and
// per-key order under redelivered duplicates, and command replies written through the outbox.
import type pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Consumer, consumer } from "../src/consumer/consumer.js";
import { on } from "../src/consumer/event-handler.js";
import { defineEvent } from "../src/envelope/define-event.js";
import { createEnvelope } from "../src/envelope/envelope.js";
import { encodeEnvelope } from "../src/envelope/envelope-codec.js";
import { PermanentError } from "../src/errors/messaging-error.js";
import { inbox } from "../src/inbox/inbox.js";
import { outbox } from "../src/outbox/outbox.js";
import { onCommand } from "../src/request-reply/on-command.js";
import type { OutgoingMessage } from "../src/transport/transport.js";
import { type MemoryTransport, memoryTransport } from "../src/transports/memory/memory-transport.js";
import { consumerTestPool, consumerTestSchema, dropConsumerTestSchema } from "./fixtures/consumer-test-db.js";
import { waitFor } from "./fixtures/wait-for.js";

const entryPosted = defineEvent({
  type: "ledger.entry-posted",
  schema: z.object({ account: z.string(), seq: z.number().int() }),
});
const reserve = defineEvent({ type: "stock.reserve", schema: z.object({ sku: z.string() }) });
const reserved = defineEvent({ type: "stock.reserved", schema: z.object({ reservationId: z.string() }) });

describe("consumer on the memory transport with a PostgreSQL inbox", () => {
  let pool: pg.Pool;
  let schema: string;
  let transport: MemoryTransport;
  let running: Consumer | undefined;

  beforeEach(async () => {
    pool = consumerTestPool();
    schema = consumerTestSchema();
    transport = memoryTransport();
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(
      `CREATE TABLE "${schema}".entries (position bigserial, account text NOT NULL, seq int NOT NULL, UNIQUE (account, seq))`,
    );
  });

  afterEach(async () => {
    await running?.close();
    running = undefined;
    await transport.close();
    await dropConsumerTestSchema(pool, schema);
    await pool.end();
  });

  it("applies every message once, in order per key, when the broker delivers some twice", async () => {
    running = consumer({
      name: `${schema}.ledger`,
      transport,
      db: pool,
      inbox: inbox({ schema }),
      prefetch: 16,
      handlers: [
        on(entryPosted, async (event, { tx }) => {
          await tx!.query(`INSERT INTO "${schema}".entries (account, seq) VALUES ($1, $2)`, [
            event.data.account,
            event.data.seq,
          ]);
        }),
      ],
    });
    await running.start();
    const messages: OutgoingMessage[] = [];
    for (let seq = 0; seq < 50; seq++) {
      for (const account of ["a", "b", "c", "d", "e", "f"]) {
        const envelope = createEnvelope({
          type: entryPosted.type,
          source: "/test",
          data: { account, seq },
          partitionkey: account,
        });
        const message = {
          id: envelope.id,
          topic: entryPosted.topic,
          key: account,
          body: encodeEnvelope(envelope),
        };
        messages.push(message);
        if (seq % 7 === 3) messages.push(message);
      }
    }
    for (let index = 0; index < messages.length; index += 20) {
      await transport.publish(messages.slice(index, index + 20));
    }
    await waitFor(
      async () => Number((await pool.query(`SELECT count(*) FROM "${schema}".entries`)).rows[0].count) >= 300,
      { what: "300 entries" },
    );
    await running.close();
    const { rows } = await pool.query<{ account: string; seqs: number[] }>(
      `SELECT account, array_agg(seq ORDER BY position) AS seqs FROM "${schema}".entries GROUP BY account ORDER BY account`,
    );
    const inOrder = Array.from({ length: 50 }, (_, seq) => seq);
    expect(rows).toEqual(["a", "b", "c", "d", "e", "f"].map((account) => ({ account, seqs: inOrder })));
    expect(await transport.deadLetters.list()).toEqual([]);
  });

  describe("replies through the outbox", () => {
    async function startResponder() {
      const replies = outbox({ source: "/services/stock", schema });
      await replies.install(pool);
      let failTransiently = true;
      running = consumer({
        name: `${schema}.stock`,
        transport,
        db: pool,
        inbox: inbox({ schema }),
        outbox: replies,
        retry: { backoff: () => 0 },
        handlers: [
          onCommand(reserve, reserved, async (command, { tx }) => {
            await tx!.query(`INSERT INTO "${schema}".entries (account, seq) VALUES ($1, 1)`, [
              command.data.sku,
            ]);
            if (command.data.sku === "none") throw new PermanentError("no stock of none");
            if (failTransiently) {
              failTransiently = false;
              throw new Error("lock timeout");
            }
            return { reservationId: `r-${command.data.sku}` };
          }),
        ],
      });
      await running.start();
      return replies;
    }

    async function command(sku: string) {
      const envelope = createEnvelope({
        type: reserve.type,
        source: "/test",
        data: { sku },
        replyto: "replies.test",
      });
      await transport.publish([{ id: envelope.id, topic: reserve.topic, body: encodeEnvelope(envelope) }]);
      return envelope.id;
    }

    const outboxRows = async (table: string) =>
      (
        await pool.query(
          `SELECT topic, type, payload, headers->>'correlationid' AS correlationid FROM ${table} ORDER BY position`,
        )
      ).rows;

    it("writes the reply in the inbox transaction: once, even when the first attempt failed", async () => {
      const replies = await startResponder();
      const id = await command("A-1");
      await waitFor(async () => (await outboxRows(replies.table)).length > 0, { what: "the reply row" });
      await running!.close();
      expect(await outboxRows(replies.table)).toEqual([
        {
          topic: "replies.test",
          type: "stock.reserved",
          payload: { reservationId: "r-A-1" },
          correlationid: id,
        },
      ]);
      expect((await pool.query(`SELECT account FROM "${schema}".entries`)).rows).toEqual([
        { account: "A-1" },
      ]);
    });

    it("answers a PermanentError with a failure reply and rolls back the handler's effects", async () => {
      const replies = await startResponder();
      const id = await command("none");
      await waitFor(async () => (await outboxRows(replies.table)).length > 0, {
        what: "the failure reply row",
      });
      await running!.close();
      expect(await outboxRows(replies.table)).toEqual([
        {
          topic: "replies.test",
          type: "flotilla.command-failed",
          payload: { command: "stock.reserve", code: "permanent", message: "no stock of none" },
          correlationid: id,
        },
      ]);
      expect((await pool.query(`SELECT account FROM "${schema}".entries`)).rows).toEqual([]);
    });
  });
});
