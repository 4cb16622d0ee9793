// The consumer's span continues the producer's trace across the broker; a command's reply
// carries the trace on.
import { initTelemetry, injectContext, type Telemetry } from "@flotilla/observability";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { consumer } from "../src/consumer/consumer.js";
import { on } from "../src/consumer/event-handler.js";
import { defineEvent } from "../src/envelope/define-event.js";
import { createEnvelope } from "../src/envelope/envelope.js";
import { decodeEnvelope, encodeEnvelope } from "../src/envelope/envelope-codec.js";
import { PermanentError } from "../src/errors/messaging-error.js";
import { onCommand } from "../src/request-reply/on-command.js";
import { ConsumerTestTransport } from "./fixtures/consumer-test-transport.js";

const orderPlaced = defineEvent({ type: "orders.order-placed", schema: z.object({ orderId: z.string() }) });
const reserve = defineEvent({ type: "stock.reserve", schema: z.object({ sku: z.string() }) });
const reserved = defineEvent({ type: "stock.reserved", schema: z.object({ sku: z.string() }) });

describe("consumer tracing", () => {
  let telemetry: Telemetry;
  const running: { close(): Promise<void> }[] = [];

  beforeAll(() => {
    telemetry = initTelemetry({
      serviceName: "billing",
      exporter: "memory",
      instrumentations: { http: false, undici: false, pg: false },
    });
  });
  afterEach(async () => {
    for (const c of running.splice(0)) await c.close();
    telemetry.clearFinishedSpans();
  });
  afterAll(async () => {
    await telemetry.shutdown();
  });

  /** Publishes `data` as `type` from inside a producer span; returns that span's context. */
  async function produce(transport: ConsumerTestTransport, type: string, data: unknown, replyto?: string) {
    return telemetry.tracer.startActiveSpan("send", { kind: SpanKind.PRODUCER }, async (span) => {
      const carrier = injectContext<Record<string, string>>({});
      const envelope = createEnvelope({
        type,
        source: "/services/orders",
        data,
        traceparent: carrier.traceparent!,
        ...(replyto === undefined ? {} : { replyto }),
      });
      await transport.publish([{ id: envelope.id, topic: type, body: encodeEnvelope(envelope) }]);
      span.end();
      return { producer: span.spanContext(), id: envelope.id };
    });
  }

  async function start(
    transport: ConsumerTestTransport,
    handlers: Parameters<typeof consumer>[0]["handlers"],
  ) {
    const c = consumer({ name: "billing", transport, handlers, retry: { backoff: () => 0 } });
    running.push(c, transport);
    await c.start();
  }

  it("runs the handler in a CONSUMER span that is a child of the producer's span", async () => {
    const transport = new ConsumerTestTransport();
    let active: string | undefined;
    await start(transport, [
      on(orderPlaced, async () => {
        active = trace.getActiveSpan()?.spanContext().spanId;
      }),
    ]);
    const { producer, id } = await produce(transport, orderPlaced.type, { orderId: "o-1" });
    await transport.settlements.waitForCount(1, { what: "the ack" });
    const span = telemetry.finishedSpans().find((s) => s.name === "process orders.order-placed");
    expect(span).toBeDefined();
    expect(span!.kind).toBe(SpanKind.CONSUMER);
    expect(span!.spanContext().traceId).toBe(producer.traceId);
    expect(span!.parentSpanContext?.spanId).toBe(producer.spanId);
    expect(active).toBe(span!.spanContext().spanId);
    expect(span!.attributes).toMatchObject({
      "messaging.system": "test",
      "messaging.operation.type": "process",
      "messaging.destination.name": "orders.order-placed",
      "messaging.consumer.group.name": "billing",
      "messaging.message.id": id,
    });
    expect(span!.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it("records a failed handler on the span and marks it as an error", async () => {
    const transport = new ConsumerTestTransport();
    await start(transport, [
      on(orderPlaced, async () => {
        throw new PermanentError("no such order");
      }),
    ]);
    const { producer } = await produce(transport, orderPlaced.type, { orderId: "o-1" });
    await transport.settlements.waitForCount(1, { what: "the dead letter" });
    const span = telemetry.finishedSpans().find((s) => s.name === "process orders.order-placed");
    expect(span?.spanContext().traceId).toBe(producer.traceId);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "permanent: no such order" });
    expect(span?.events.map((e) => e.name)).toContain("exception");
  });

  it("sends a command's reply with the consumer span's trace context", async () => {
    const transport = new ConsumerTestTransport();
    await start(transport, [onCommand(reserve, reserved, async (command) => ({ sku: command.data.sku }))]);
    await transport.subscribe({
      queue: "replies",
      topics: ["replies.test"],
      prefetch: 1,
      handler: (d) => d.ack(),
    });
    const { producer, id } = await produce(transport, reserve.type, { sku: "A-1" }, "replies.test");
    await transport.settlements.waitFor((items) => items.some((s) => s.id === id), {
      what: "the command's ack",
    });
    const replies = await transport.published.waitFor(
      (items) => items.some((m) => m.topic === "replies.test"),
      {
        what: "the reply",
      },
    );
    const reply = decodeEnvelope(replies.find((m) => m.topic === "replies.test")!.body);
    const span = telemetry.finishedSpans().find((s) => s.name === "process stock.reserve");
    expect(reply.traceparent).toBe(`00-${producer.traceId}-${span!.spanContext().spanId}-01`);
  });
});
