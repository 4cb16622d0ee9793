// The whole pipeline on the real brokers: producers commit orders with their events through the
// outbox, the relay publishes them, and a billing consumer with the inbox applies each event once
// (one ledger row). Bad input is dead-lettered with its reason while consuming goes on, and the
// consumer's span continues the producer's trace.
import { randomUUID } from "node:crypto";
import { initTelemetry, type Telemetry } from "@flotilla/observability";
import { SpanKind } from "@opentelemetry/api";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Consumer, consumer } from "../src/consumer/consumer.js";
import { createEnvelope, type Envelope } from "../src/envelope/envelope.js";
import { encodeEnvelope } from "../src/envelope/envelope-codec.js";
import { inbox } from "../src/inbox/inbox.js";
import { type Outbox, outbox } from "../src/outbox/outbox.js";
import { type OutboxRelay, outboxRelay } from "../src/outbox/outbox-relay.js";
import { DeadLetterCode, type OutgoingMessage, type Transport } from "../src/transport/transport.js";
import { E2eBroker, type E2eBrokerKind, e2eNamespace } from "./fixtures/e2e-brokers.js";
import { metricValue } from "./fixtures/e2e-metrics.js";
import { ObservedTransport } from "./fixtures/e2e-observed-transport.js";
import {
  commitOrder,
  dropShop,
  e2ePool,
  expectExactlyOnce,
  installShop,
  ledger,
  ledgerHandlers,
  orderPlaced,
  ProducedEvents,
} from "./fixtures/e2e-orders.js";
import { runAll } from "./fixtures/e2e-teardown.js";
import { waitFor } from "./fixtures/wait-for.js";

const kinds: readonly E2eBrokerKind[] = ["rabbitmq", "nats", "postgres"];
// One pattern for both event types: JetStream keeps a key's order only within one subject filter.
const billingTopics = ["orders.*"];
const maxMessageBytes = 4_096;

let telemetry: Telemetry;

beforeAll(() => {
  telemetry = initTelemetry({
    serviceName: "e2e",
    exporter: "memory",
    instrumentations: { http: false, undici: false, pg: false },
  });
});

afterAll(async () => {
  await telemetry.shutdown();
});

/** The transport message of an envelope, as a producer would publish it without the outbox. */
function toMessage(envelope: Envelope, id: string = envelope.id): OutgoingMessage {
  return {
    id,
    topic: envelope.type,
    ...(envelope.partitionkey === undefined ? {} : { key: envelope.partitionkey }),
    body: encodeEnvelope(envelope),
  };
}

describe.each(kinds)("end to end over %s", (kind) => {
  let namespace: string;
  let broker: E2eBroker;
  let ordersPool: pg.Pool;
  let billingPool: pg.Pool;
  let box: Outbox;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    namespace = e2eNamespace();
    broker = new E2eBroker(kind, namespace);
    ordersPool = e2ePool();
    billingPool = e2ePool();
    box = outbox({ source: "/services/orders", schema: namespace });
    await installShop(ordersPool, namespace);
    await box.install(ordersPool);
  });

  afterEach(async () => {
    telemetry.clearFinishedSpans();
    await runAll([
      ...cleanups.splice(0).reverse(),
      () => broker.cleanup(),
      () => dropShop(ordersPool, namespace),
      () => ordersPool.end(),
      () => billingPool.end(),
    ]);
  });

  /** The orders service's relay, on a transport of its own; returns that transport. */
  async function startRelay(): Promise<Transport> {
    const transport = await broker.transport();
    const relay: OutboxRelay = outboxRelay({ pool: ordersPool, outbox: box, transport });
    cleanups.push(() => relay.stop());
    relay.start();
    return transport;
  }

  /** The billing consumer with the inbox in the test's schema, on a transport of its own. */
  async function startBilling(refuse?: () => boolean) {
    const transport = new ObservedTransport(await broker.transport());
    const registry = new Registry();
    const name = `${namespace}.billing`;
    const billing: Consumer = consumer({
      name,
      transport,
      db: billingPool,
      inbox: inbox({ schema: namespace }),
      handlers: ledgerHandlers(namespace, refuse),
      topics: billingTopics,
      prefetch: 64,
      maxMessageBytes,
      retry: { backoff: () => 50 },
      registry,
    });
    cleanups.push(() => billing.close());
    await billing.start();
    return { name, transport, registry };
  }

  /** Four producers, each owning five keys, commit 45 orders each; every seventh rolls back. */
  async function produceOrders(): Promise<ProducedEvents> {
    const produced = new ProducedEvents();
    const seqs = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        for (let index = 0; index < 45; index++) {
          const key = `w${worker}-k${index % 5}`;
          const nextSeq = () => {
            const seq = (seqs.get(key) ?? 0) + 1;
            seqs.set(key, seq);
            return seq;
          };
          const order = { id: `o-${worker}-${index}`, key, lines: index % 3, rollback: index % 7 === 3 };
          produced.add(await commitOrder(ordersPool, box, namespace, order, nextSeq));
        }
      }),
    );
    return produced;
  }

  it("applies each committed event exactly once, in commit order per key, and never a rolled-back one", async () => {
    const billing = await startBilling();
    const relayTransport = await startRelay();
    const produced = await produceOrders();
    expect(produced.committed.length).toBeGreaterThanOrEqual(300);
    expect(produced.rolledBack.length).toBeGreaterThan(0);
    await billing.transport.waitForAcks(
      produced.committed.map((envelope) => envelope.id),
      { what: `the ${produced.committed.length} committed events`, timeout: 30_000 },
    );

    // A second copy of every eighth event, straight through the broker: the inbox must skip them.
    const copied = produced.committed.filter((_, index) => index % 8 === 0);
    const from = billing.transport.settled.items.length;
    await relayTransport.publish(copied.map((envelope) => toMessage(envelope, broker.copyId(envelope.id))));
    await billing.transport.waitForAcks(
      copied.map((envelope) => broker.copyId(envelope.id)),
      { what: `the ${copied.length} copies`, from, timeout: 20_000 },
    );

    expectExactlyOnce(await ledger(billingPool, namespace), produced);
    const rolledBack = new Set(produced.rolledBack.map((envelope) => envelope.id));
    expect(billing.transport.delivered.items.filter((d) => rolledBack.has(d.id))).toEqual([]);
    const acks = billing.transport.settled.items.filter((s) => s.kind === "ack").length;
    const consumed = "flotilla_messages_consumed_total";
    expect(await metricValue(billing.registry, consumed, { outcome: "acked" })).toBe(
      produced.committed.length,
    );
    const duplicates = await metricValue(billing.registry, consumed, { outcome: "duplicate" });
    expect(duplicates).toBeGreaterThanOrEqual(copied.length);
    expect(duplicates).toBe(acks - produced.committed.length);
  }, 60_000);

  it("dead-letters each kind of bad input with its reason, keeps consuming, and replays a dead letter", async () => {
    let refusing = true;
    const billing = await startBilling(() => refusing);
    const producer = await broker.transport();
    const order = (n: number, extra: Record<string, unknown> = {}) =>
      createEnvelope({
        type: orderPlaced.type,
        source: "/services/orders",
        data: { orderId: `o-${n}`, key: `k-${n}`, seq: 1, ...extra },
      });
    const good = Array.from({ length: 7 }, (_, n) => toMessage(order(n)));
    const raw = (body: string): OutgoingMessage => ({
      id: randomUUID(),
      topic: orderPlaced.topic,
      body: Buffer.from(body),
    });
    const bad = {
      notJson: raw("{ this is not json"),
      notCloudEvent: raw(JSON.stringify({ hello: "world" })),
      unknownType: toMessage(
        createEnvelope({ type: "orders.cancelled", source: "/services/orders", data: { orderId: "o-x" } }),
      ),
      invalid: toMessage(order(100, { orderId: 42, seq: "first" })),
      tooLarge: toMessage(order(101, { note: "x".repeat(2 * maxMessageBytes) })),
      permanent: toMessage(order(102, { reject: true })),
    };
    const expected: Record<keyof typeof bad, { code: DeadLetterCode; message: RegExp }> = {
      notJson: { code: DeadLetterCode.Malformed, message: /not a CloudEvents JSON envelope/ },
      notCloudEvent: { code: DeadLetterCode.Malformed, message: /specversion must be "1\.0"/ },
      unknownType: {
        code: DeadLetterCode.UnknownType,
        message: /no handler for event type "orders\.cancelled"/,
      },
      invalid: { code: DeadLetterCode.Invalid, message: /orderId: .*; seq: / },
      tooLarge: { code: DeadLetterCode.TooLarge, message: /over the limit of 4096 bytes/ },
      permanent: { code: DeadLetterCode.Permanent, message: /order o-102 is refused by billing/ },
    };
    const badMessages = Object.values(bad);
    await producer.publish(
      good.flatMap((message, index) => [message, ...badMessages.slice(index, index + 1)]),
    );

    await billing.transport.waitForAcks(
      good.map((m) => m.id),
      { what: "the good messages between the bad ones" },
    );
    const deadIds = new Set(badMessages.map((m) => m.id));
    await billing.transport.settled.waitFor(
      (items) => items.filter((s) => s.kind === "dead-letter" && deadIds.has(s.id)).length === deadIds.size,
      { what: "a dead letter for each bad message", timeout: 20_000 },
    );

    const letters = await billing.transport.deadLetters.list({ queue: billing.name });
    expect(letters).toHaveLength(badMessages.length);
    for (const [which, message] of Object.entries(bad) as [keyof typeof bad, OutgoingMessage][]) {
      const letter = letters.find((l) => l.message.id === message.id);
      expect(letter, `the dead letter of ${which}`).toBeDefined();
      expect(letter!.reason.code, which).toBe(expected[which].code);
      expect(letter!.reason.message, which).toMatch(expected[which].message);
      expect(letter!.queue).toBe(billing.name);
      expect(Buffer.from(letter!.message.body).equals(Buffer.from(message.body)), `body of ${which}`).toBe(
        true,
      );
    }

    const later = toMessage(order(7));
    await producer.publish([later]);
    await billing.transport.waitForAcks([later.id], { what: "a good message after the bad ones" });

    refusing = false;
    const from = billing.transport.settled.items.length;
    const permanentLetter = letters.find((l) => l.message.id === bad.permanent.id)!;
    expect(await billing.transport.deadLetters.replay({ ids: [permanentLetter.id] })).toBe(1);
    await billing.transport.waitForAcks([bad.permanent.id], { what: "the replayed dead letter", from });

    const applied = (await ledger(billingPool, namespace)).map((row) => row.message_id);
    expect(applied.sort()).toEqual([...good, later, bad.permanent].map((m) => m.id).sort());
    const remaining = await billing.transport.deadLetters.list({ queue: billing.name });
    expect(remaining.map((l) => l.message.id).sort()).toEqual(
      badMessages
        .filter((m) => m !== bad.permanent)
        .map((m) => m.id)
        .sort(),
    );
    const deadLettered = "flotilla_messages_dead_lettered_total";
    expect(await metricValue(billing.registry, deadLettered, { code: "malformed" })).toBe(2);
    for (const code of ["unknown-type", "invalid", "too-large", "permanent"]) {
      expect(await metricValue(billing.registry, deadLettered, { code }), code).toBe(1);
    }
  }, 60_000);

  it("processes each event in a span that continues the producer's trace", async () => {
    const billing = await startBilling();
    await startRelay();
    const { producer, ids } = await telemetry.tracer.startActiveSpan(
      "place order",
      { kind: SpanKind.PRODUCER },
      async (span) => {
        try {
          const order = await commitOrder(
            ordersPool,
            box,
            namespace,
            { id: "o-traced", key: "k-traced", lines: 1 },
            (() => {
              let seq = 0;
              return () => ++seq;
            })(),
          );
          return { producer: span.spanContext(), ids: order.envelopes.map((envelope) => envelope.id) };
        } finally {
          span.end();
        }
      },
    );
    await billing.transport.waitForAcks(ids, { what: "the traced order's two events" });
    const processSpan = (id: string) =>
      telemetry
        .finishedSpans()
        .find((span) => span.kind === SpanKind.CONSUMER && span.attributes["messaging.message.id"] === id);
    await waitFor(() => ids.every((id) => processSpan(id) !== undefined), {
      what: "the consumer spans to end",
    });
    for (const id of ids) {
      const span = processSpan(id)!;
      expect(span.spanContext().traceId).toBe(producer.traceId);
      expect(span.parentSpanContext?.spanId).toBe(producer.spanId);
      expect(span.attributes).toMatchObject({
        "messaging.system": kind,
        "messaging.consumer.group.name": billing.name,
        "flotilla.messaging.outcome": "acked",
      });
    }
  }, 30_000);
});
