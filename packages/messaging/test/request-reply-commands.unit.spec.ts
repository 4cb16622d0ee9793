// Commands over messaging: a requester and an onCommand responder on the test transport.
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Consumer, consumer } from "../src/consumer/consumer.js";
import { defineEvent } from "../src/envelope/define-event.js";
import { createEnvelope } from "../src/envelope/envelope.js";
import { decodeEnvelope, encodeEnvelope } from "../src/envelope/envelope-codec.js";
import { PermanentError } from "../src/errors/messaging-error.js";
import { type CommandRequester, commandRequester } from "../src/request-reply/command-requester.js";
import { onCommand } from "../src/request-reply/on-command.js";
import { ConsumerTestTransport } from "./fixtures/consumer-test-transport.js";

const reserveStock = defineEvent({
  type: "stock.reserve",
  schema: z.object({ sku: z.string(), quantity: z.number().int().positive() }),
});
const stockReserved = defineEvent({
  type: "stock.reserved",
  schema: z.object({ reservationId: z.string() }),
});
/** The responder's stricter view of the same command: quantities above 10 fail its schema. */
const reserveSmall = defineEvent({
  type: "stock.reserve",
  schema: z.object({ sku: z.string(), quantity: z.number().int().max(10) }),
});

describe("request/reply", () => {
  const closing: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of closing.splice(0).reverse()) await c.close();
  });

  async function setUp(options: { clock?: FakeClock; respond?: boolean } = {}) {
    const transport = new ConsumerTestTransport();
    closing.push(transport);
    const requester: CommandRequester = commandRequester({
      transport,
      replyTopic: "replies.orders-1",
      source: "/services/orders",
      timeout: "5s",
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    closing.push(requester);
    if (options.respond !== false) {
      const stock: Consumer = consumer({
        name: "stock",
        transport,
        source: "/services/stock",
        retry: { maxAttempts: 2, backoff: () => 0 },
        handlers: [
          onCommand(reserveSmall, stockReserved, async (command) => {
            if (command.data.sku === "none") throw new PermanentError(`no stock of ${command.data.sku}`);
            if (command.data.sku === "broken") return { reservationId: 42 } as never;
            return { reservationId: `r-${command.data.sku}-${command.data.quantity}` };
          }),
        ],
      });
      closing.push(stock);
      await stock.start();
    }
    return { transport, requester };
  }

  it("resolves with the typed reply, correlated by the command's id", async () => {
    const { transport, requester } = await setUp();
    const reply = await requester.send(
      reserveStock,
      { sku: "A-1", quantity: 2 },
      { reply: stockReserved, key: "A-1" },
    );
    expect(reply.data.reservationId).toBe("r-A-1-2");
    expect(reply.type).toBe("stock.reserved");
    expect(reply.source).toBe("/services/stock");
    const command = decodeEnvelope(transport.published.items.find((m) => m.topic === "stock.reserve")!.body);
    expect(command).toMatchObject({
      replyto: "replies.orders-1",
      source: "/services/orders",
      partitionkey: "A-1",
    });
    expect(reply.correlationid).toBe(command.id);
    expect(reply.causationid).toBe(command.id);
    expect(requester.pending).toBe(0);
  });

  it("rejects with FLT_MESSAGING_COMMAND_FAILED and the responder's message on a PermanentError", async () => {
    const { requester } = await setUp();
    await expect(requester.send(reserveStock, { sku: "none", quantity: 1 })).rejects.toMatchObject({
      code: "FLT_MESSAGING_COMMAND_FAILED",
      message: expect.stringMatching(/command "stock.reserve" \(.+\) failed: permanent: no stock of none/),
    });
  });

  it("answers a command the responder dead-letters, and a reply failing its schema, with a failure", async () => {
    const { transport, requester } = await setUp();
    await expect(requester.send(reserveStock, { sku: "A-1", quantity: 11 })).rejects.toMatchObject({
      code: "FLT_MESSAGING_COMMAND_FAILED",
      message: expect.stringMatching(/failed: invalid: .*quantity: /),
    });
    expect(
      transport.settlements.items.some((s) => s.kind === "dead-letter" && s.reason.code === "invalid"),
    ).toBe(true);
    await expect(requester.send(reserveStock, { sku: "broken", quantity: 1 })).rejects.toMatchObject({
      code: "FLT_MESSAGING_COMMAND_FAILED",
      message: expect.stringMatching(/reply that fails its schema: reservationId: /),
    });
  });

  it("rejects a reply of another type than the expected one", async () => {
    const { requester } = await setUp();
    const other = defineEvent({ type: "stock.other", schema: z.object({}) });
    await expect(
      requester.send(reserveStock, { sku: "A-1", quantity: 1 }, { reply: other }),
    ).rejects.toMatchObject({
      code: "FLT_MESSAGING_COMMAND_FAILED",
      message: 'command "stock.reserve" was answered with "stock.reserved", expected "stock.other"',
    });
  });

  it("times out with FLT_MESSAGING_REPLY_TIMEOUT when nobody answers, and drops the late reply", async () => {
    const clock = new FakeClock();
    const { transport, requester } = await setUp({ clock, respond: false });
    const sent = requester.send(reserveStock, { sku: "A-1", quantity: 1 }, { timeout: "2s" });
    const outcome = sent.then(
      () => "resolved",
      (error: { code: string }) => error.code,
    );
    await clock.advance(1_999);
    expect(requester.pending).toBe(1);
    await clock.advance(1);
    expect(await outcome).toBe("FLT_MESSAGING_REPLY_TIMEOUT");
    expect(requester.pending).toBe(0);
    const command = transport.published.items[0]!;
    const late = createEnvelope({
      type: stockReserved.type,
      source: "/services/stock",
      data: { reservationId: "r-1" },
      correlationid: command.id,
    });
    transport.inject({ id: late.id, topic: "replies.orders-1", body: encodeEnvelope(late) });
    const [settlement] = await transport.settlements.waitForCount(1, { what: "the late reply's ack" });
    expect(settlement).toEqual({ kind: "ack", id: late.id, attempt: 1 });
  });

  it("refuses data failing the command's schema without sending anything", async () => {
    const { transport, requester } = await setUp({ respond: false });
    await expect(requester.send(reserveStock, { sku: "A-1", quantity: -1 })).rejects.toMatchObject({
      code: "FLT_MESSAGING_PAYLOAD_INVALID",
      message: expect.stringMatching(/quantity: /),
    });
    expect(transport.published.items).toEqual([]);
  });

  it("rejects with the transport's error when the command cannot be published", async () => {
    const { transport, requester } = await setUp({ respond: false });
    transport.failPublishes = 1;
    await expect(requester.send(reserveStock, { sku: "A-1", quantity: 1 })).rejects.toMatchObject({
      code: "FLT_MESSAGING_TRANSPORT_UNAVAILABLE",
    });
    expect(requester.pending).toBe(0);
  });

  it("rejects waiting commands with FLT_MESSAGING_CLOSED on close, and sends no more", async () => {
    const { requester } = await setUp({ respond: false });
    const sent = requester.send(reserveStock, { sku: "A-1", quantity: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    await requester.close();
    await expect(sent).rejects.toMatchObject({ code: "FLT_MESSAGING_CLOSED" });
    await expect(requester.send(reserveStock, { sku: "A-1", quantity: 1 })).rejects.toMatchObject({
      code: "FLT_MESSAGING_CLOSED",
    });
  });

  it("names bad options", () => {
    expect(() =>
      commandRequester({ transport: {} as never, replyTopic: "bad topic", source: "", timeout: -1 }),
    ).toThrowError(
      expect.objectContaining({
        issues: expect.arrayContaining([
          expect.objectContaining({ path: "transport" }),
          expect.objectContaining({ path: "replyTopic" }),
          expect.objectContaining({ path: "source" }),
          expect.objectContaining({ path: "timeout" }),
        ]),
      }),
    );
  });
});
