// The consumer without a database: checks, dead-lettering, retries with backoff, metrics, options.
import { FakeClock } from "@flotilla/resilience/testing";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Consumer, consumer } from "../src/consumer/consumer.js";
import { on } from "../src/consumer/event-handler.js";
import type { MessageContext } from "../src/consumer/message-context.js";
import { defineEvent } from "../src/envelope/define-event.js";
import { createEnvelope } from "../src/envelope/envelope.js";
import { encodeEnvelope } from "../src/envelope/envelope-codec.js";
import { PermanentError } from "../src/errors/messaging-error.js";
import type { TransportMessage } from "../src/transport/transport.js";
import { ConsumerTestTransport, type Settlement } from "./fixtures/consumer-test-transport.js";

const orderPlaced = defineEvent({
  type: "orders.order-placed",
  schema: z.object({ orderId: z.string(), total: z.number().positive() }),
});

function message(data: unknown, type = orderPlaced.type): TransportMessage {
  const envelope = createEnvelope({ type, source: "/test", data });
  return { id: envelope.id, topic: orderPlaced.topic, body: encodeEnvelope(envelope) };
}

describe("consumer without a database", () => {
  const running: Consumer[] = [];
  const transports: ConsumerTestTransport[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.close()));
    await Promise.all(transports.splice(0).map((t) => t.close()));
  });

  async function start(
    options: Partial<Parameters<typeof consumer>[0]> & { transport: ConsumerTestTransport },
  ) {
    const c = consumer({
      name: "billing",
      handlers: [on(orderPlaced, async () => {})],
      retry: { backoff: (attempt) => attempt * 100 },
      ...options,
    });
    running.push(c);
    transports.push(options.transport);
    await c.start();
    return c;
  }

  it("hands the handler the parsed event and acks after it resolves", async () => {
    const transport = new ConsumerTestTransport();
    const seen: { data: unknown; context: MessageContext }[] = [];
    await start({
      transport,
      handlers: [
        on(orderPlaced, async (event, context) => {
          seen.push({ data: event.data, context });
        }),
      ],
    });
    const m = message({ orderId: "o-1", total: 12.5 });
    await transport.publish([m]);
    const [settlement] = await transport.settlements.waitForCount(1, { what: "the ack" });
    expect(settlement).toEqual({ kind: "ack", id: m.id, attempt: 1 });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.data).toEqual({ orderId: "o-1", total: 12.5 });
    expect(seen[0]!.context.tx).toBeUndefined();
    expect(seen[0]!.context.attempt).toBe(1);
    expect(seen[0]!.context.message.id).toBe(m.id);
    expect(seen[0]!.context.signal.aborted).toBe(false);
  });

  it("dead-letters every kind of bad input with its code and keeps consuming", async () => {
    const transport = new ConsumerTestTransport();
    const registry = new Registry();
    const handled: string[] = [];
    const c = await start({
      transport,
      registry,
      maxMessageBytes: 2_000,
      handlers: [
        on(orderPlaced, async (event) => {
          handled.push(event.data.orderId);
        }),
      ],
    });
    const malformed: TransportMessage = {
      id: "m-1",
      topic: orderPlaced.topic,
      body: Buffer.from("{not json"),
    };
    const notAnEnvelope: TransportMessage = {
      id: "m-2",
      topic: orderPlaced.topic,
      body: Buffer.from('{"id":"x"}'),
    };
    const tooLarge = message({ orderId: "x".repeat(3_000), total: 1 });
    const unknownType = message({ orderId: "o-2", total: 1 }, "orders.order-shipped");
    const invalid = message({ orderId: 42, total: -1 });
    const good = message({ orderId: "o-3", total: 1 });
    await transport.publish([malformed, notAnEnvelope, tooLarge, unknownType, invalid, good]);
    const settlements = await transport.settlements.waitForCount(6, { what: "six settlements" });
    const byId = new Map(settlements.map((s) => [s.id, s]));
    const reason = (id: string) => (byId.get(id) as Extract<Settlement, { kind: "dead-letter" }>).reason;
    expect(reason("m-1").code).toBe("malformed");
    expect(reason("m-2").code).toBe("malformed");
    expect(reason("m-2").message).toMatch(/specversion/);
    expect(reason(tooLarge.id).code).toBe("too-large");
    expect(reason(unknownType.id)).toEqual({
      code: "unknown-type",
      message: 'consumer "billing" has no handler for event type "orders.order-shipped"',
    });
    expect(reason(invalid.id).code).toBe("invalid");
    expect(reason(invalid.id).message).toMatch(/orderId: .*expected string/i);
    expect(reason(invalid.id).message).toMatch(/total: /);
    expect(byId.get(good.id)).toEqual({ kind: "ack", id: good.id, attempt: 1 });
    expect(handled).toEqual(["o-3"]);
    await c.close();
    const text = await registry.metrics();
    expect(text).toMatch(/flotilla_messages_dead_lettered_total\{consumer="billing",code="malformed"\} 2/);
    expect(text).toMatch(/flotilla_messages_dead_lettered_total\{consumer="billing",code="invalid"\} 1/);
    expect(text).toMatch(
      /flotilla_messages_consumed_total\{consumer="billing",type="orders.order-placed",outcome="acked"\} 1/,
    );
    expect(text).toMatch(
      /flotilla_messages_consumed_total\{consumer="billing",type="_unknown",outcome="dead_lettered"\} 4/,
    );
    expect(text).toMatch(
      /flotilla_message_handler_duration_seconds_count\{consumer="billing",type="orders.order-placed"\} 1/,
    );
  });

  it("dead-letters a message delivered more often than maxAttempts as poison without running it", async () => {
    const transport = new ConsumerTestTransport();
    let runs = 0;
    await start({
      transport,
      retry: { maxAttempts: 3 },
      handlers: [on(orderPlaced, async () => void runs++)],
    });
    const m = message({ orderId: "o-1", total: 1 });
    transport.inject(m, 4);
    transport.inject(message({ orderId: "o-2", total: 1 }), 3);
    const settlements = await transport.settlements.waitForCount(2, { what: "two settlements" });
    const poison = settlements.find((s) => s.id === m.id) as Extract<Settlement, { kind: "dead-letter" }>;
    expect(poison.reason.code).toBe("poison");
    expect(poison.reason.message).toMatch(/delivery 4 .* 3 attempts/);
    expect(runs).toBe(1);
  });

  it("dead-letters at once on a PermanentError", async () => {
    const transport = new ConsumerTestTransport();
    await start({
      transport,
      handlers: [
        on(orderPlaced, async (event) => {
          throw new PermanentError(`order ${event.data.orderId} does not exist`);
        }),
      ],
    });
    const m = message({ orderId: "o-9", total: 1 });
    await transport.publish([m]);
    const [settlement] = await transport.settlements.waitForCount(1, { what: "the dead letter" });
    expect(settlement).toEqual({
      kind: "dead-letter",
      id: m.id,
      attempt: 1,
      reason: { code: "permanent", message: "order o-9 does not exist" },
    });
  });

  it("retries transient failures after the backoff of each attempt, then dead-letters at maxAttempts", async () => {
    const clock = new FakeClock();
    const transport = new ConsumerTestTransport({ clock });
    const attempts: number[] = [];
    await start({
      transport,
      clock,
      retry: { maxAttempts: 4, backoff: (attempt) => attempt * 100 },
      handlers: [
        on(orderPlaced, async (_event, { attempt }) => {
          attempts.push(attempt);
          throw new Error("database busy");
        }),
      ],
    });
    const m = message({ orderId: "o-1", total: 1 });
    await transport.publish([m]);
    await transport.settlements.waitForCount(1, { what: "the first retry" });
    await clock.advance(99);
    expect(attempts).toEqual([1]);
    await clock.advance(1);
    await transport.settlements.waitForCount(2, { what: "the second retry" });
    await clock.advance(200);
    await transport.settlements.waitForCount(3, { what: "the third retry" });
    await clock.advance(300);
    const settlements = await transport.settlements.waitForCount(4, { what: "the dead letter" });
    expect(settlements.map((s) => (s.kind === "retry" ? s.delayMs : s.kind))).toEqual([
      100,
      200,
      300,
      "dead-letter",
    ]);
    expect(settlements[0]).toMatchObject({ kind: "retry", error: "database busy" });
    expect(settlements[3]).toMatchObject({
      attempt: 4,
      reason: { code: "max-attempts", message: "attempt 4 of 4 failed: database busy" },
    });
    expect(attempts).toEqual([1, 2, 3, 4]);
  });

  it("close() waits for the running handler and aborts its signal", async () => {
    const transport = new ConsumerTestTransport();
    let release!: () => void;
    const entered = Promise.withResolvers<AbortSignal>();
    const c = await start({
      transport,
      handlers: [
        on(orderPlaced, async (_event, { signal }) => {
          entered.resolve(signal);
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }),
      ],
    });
    await transport.publish([message({ orderId: "o-1", total: 1 })]);
    const signal = await entered.promise;
    let closed = false;
    const closing = c.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(signal.aborted).toBe(true);
    expect(closed).toBe(false);
    release();
    await closing;
    expect(transport.settlements.items.map((s) => s.kind)).toEqual(["ack"]);
  });

  it("rejects start() after close()", async () => {
    const c = consumer({
      name: "q",
      transport: new ConsumerTestTransport(),
      handlers: [on(orderPlaced, async () => {})],
    });
    await c.close();
    await expect(c.start()).rejects.toMatchObject({ code: "FLT_MESSAGING_CLOSED" });
  });

  it("names every bad option with its path", () => {
    const handler = on(orderPlaced, async () => {});
    expect(() =>
      consumer({
        name: "bad name",
        transport: {} as never,
        handlers: [handler, handler, {} as never],
        topics: ["a..b"],
        prefetch: 0,
        batch: { maxSize: 0 },
        retry: { maxAttempts: 1.5, backoff: 3 as never },
        outbox: { publishEnvelope: async () => {} },
        retention: { every: "1h" },
        colour: "blue",
      } as never),
    ).toThrowError(
      expect.objectContaining({
        code: "FLT_CONFIG_INVALID",
        issues: expect.arrayContaining([
          expect.objectContaining({ path: "name" }),
          expect.objectContaining({ path: "transport" }),
          expect.objectContaining({
            path: "handlers[1]",
            message: 'a second handler for event type "orders.order-placed"',
          }),
          expect.objectContaining({ path: "handlers[2]" }),
          expect.objectContaining({ path: "topics[0]" }),
          expect.objectContaining({ path: "prefetch" }),
          expect.objectContaining({ path: "batch.maxSize" }),
          expect.objectContaining({ path: "retry.maxAttempts" }),
          expect.objectContaining({ path: "retry.backoff" }),
          expect.objectContaining({ path: "outbox", message: expect.stringMatching(/needs db/) }),
          expect.objectContaining({ path: "retention.olderThan" }),
          expect.objectContaining({ path: "retention", message: expect.stringMatching(/needs db/) }),
          expect.objectContaining({ path: "colour" }),
        ]),
      }),
    );
    expect(() => on({} as never, async () => {})).toThrowError(/defineEvent/);
  });
});
