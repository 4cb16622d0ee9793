// The outbox without a database: options, validation before any write, the INSERT's parameters,
// and the row ↔ envelope mapping the relay relies on (what publish stores is what the relay sends).
import { propagation, type TextMapPropagator } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent } from "../src/envelope/define-event.js";
import { createEnvelope } from "../src/envelope/envelope.js";
import { decodeEnvelope } from "../src/envelope/envelope-codec.js";
import { isMessagingError, MessagingErrorCode } from "../src/errors/messaging-error.js";
import type { Queryable } from "../src/inbox/queryable.js";
import { Outbox, outbox } from "../src/outbox/outbox.js";
import { envelopeToRecord, type OutboxRow, rowToEnvelope, rowToMessage } from "../src/outbox/outbox-row.js";

const orderPlaced = defineEvent({
  type: "orders.order-placed",
  schema: z.object({ orderId: z.string(), total: z.number().nonnegative() }),
  version: 2,
});

/** A Queryable that records the statements and their parameters. */
function recordingDb(): Queryable & { calls: { text: string; values: unknown[] | undefined }[] } {
  const calls: { text: string; values: unknown[] | undefined }[] = [];
  return {
    calls,
    async query(
      statement: string | { readonly text: string; readonly values?: unknown[] },
      parameters?: unknown[],
    ) {
      const [text, values] =
        typeof statement === "string" ? [statement, parameters] : [statement.text, statement.values];
      calls.push({ text, values });
      return { rows: [], rowCount: 1, command: "INSERT", oid: 0, fields: [] };
    },
  };
}

/** What PostgreSQL hands back for a stored record: jsonb columns parsed again, delay computed. */
function storedRow(record: ReturnType<typeof envelopeToRecord>, delayMs = 0): OutboxRow {
  return {
    id: record.id,
    aggregatetype: record.aggregatetype,
    aggregateid: record.aggregateid,
    type: record.type,
    payload: JSON.parse(JSON.stringify(record.payload)),
    topic: record.topic,
    headers: JSON.parse(JSON.stringify(record.headers)),
    delay_ms: delayMs,
  };
}

function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  return fn().then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("outbox row mapping", () => {
  it("rebuilds exactly the envelope that was stored, with every attribute", () => {
    const envelope = createEnvelope({
      type: "orders.order-placed",
      source: "/services/orders",
      data: { orderId: "o-1", total: 12.5, lines: [{ sku: "a", qty: 2 }] },
      subject: "o-1",
      partitionkey: "o-1",
      correlationid: "c-1",
      causationid: "m-0",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: "vendor=x",
      schemaversion: 3,
      replyto: "orders.replies",
    });
    const record = envelopeToRecord(envelope, "orders.placed", {
      aggregateType: "order",
      headers: { "x-tenant": "acme" },
    });
    expect(record).toMatchObject({
      id: envelope.id,
      aggregatetype: "order",
      aggregateid: "o-1",
      type: "orders.order-placed",
      payload: envelope.data,
      topic: "orders.placed",
    });
    expect(record.headers).toEqual({
      source: "/services/orders",
      time: envelope.time,
      schemaversion: 3,
      subject: "o-1",
      correlationid: "c-1",
      causationid: "m-0",
      traceparent: envelope.traceparent,
      tracestate: "vendor=x",
      replyto: "orders.replies",
      "x-tenant": "acme",
    });

    const row = storedRow(record);
    expect(rowToEnvelope(row, "/fallback")).toEqual(envelope);
    const message = rowToMessage(row, "/fallback");
    expect(message).toMatchObject({
      id: envelope.id,
      topic: "orders.placed",
      key: "o-1",
      headers: { "x-tenant": "acme" },
    });
    expect(message.delayMs).toBeUndefined();
    expect(decodeEnvelope(message.body)).toEqual(envelope);
  });

  it("leaves out the key, headers and delay a row does not have, and carries a delay it has", () => {
    const envelope = createEnvelope({ type: "ping", source: "/s", data: null });
    const record = envelopeToRecord(envelope, "ping", { aggregateType: "ping" });
    const message = rowToMessage(storedRow(record), "/s");
    expect(Object.keys(message).sort()).toEqual(["body", "id", "topic"]);
    expect(decodeEnvelope(message.body)).toEqual(envelope);
    expect(rowToMessage(storedRow(record, 1499.2), "/s").delayMs).toBe(1500);
  });

  it("reads a row edited by hand leniently instead of stalling the relay", () => {
    const row: OutboxRow = {
      id: "6f1c1b8e-52a4-4c1e-9d7e-8f8f0b6c3a11",
      aggregatetype: "x",
      aggregateid: null,
      type: "x.happened",
      payload: { a: 1 },
      topic: "x.happened",
      headers: { schemaversion: "two", subject: 7, "x-ok": "yes", "x-bad": 1 },
      delay_ms: -5,
    };
    const message = rowToMessage(row, "/services/x");
    const envelope = decodeEnvelope(message.body);
    expect(envelope).toMatchObject({ source: "/services/x", schemaversion: 1, data: { a: 1 } });
    expect(envelope.subject).toBeUndefined();
    expect(message.headers).toEqual({ "x-ok": "yes" });
    expect(message.delayMs).toBeUndefined();
    expect(rowToEnvelope({ ...row, headers: null }, "/s").source).toBe("/s");
  });
});

describe("outbox options", () => {
  it("names every bad option with its path", () => {
    let error: unknown;
    try {
      outbox({ source: "", schema: "Bad-Schema", table: "1x", maxMessageBytes: 10, extra: 1 } as never);
    } catch (caught) {
      error = caught;
    }
    const message = (error as Error).message;
    for (const path of [
      "outbox.source",
      "outbox.schema",
      "outbox.table",
      "outbox.maxMessageBytes",
      "outbox.extra",
    ]) {
      expect(message).toContain(path);
    }
    expect(() => outbox({} as never)).toThrow(/outbox\.source: required/);
  });

  it("quotes and qualifies the table and derives a channel under PostgreSQL's 63-byte limit", () => {
    const box = outbox({ source: "/s" });
    expect(box.table).toBe('"flotilla"."outbox"');
    expect(box.notifyChannel).toBe("flotilla.outbox.flotilla.outbox");
    const long = outbox({ source: "/s", schema: "s".repeat(60), table: "t".repeat(60) });
    expect(Buffer.byteLength(long.notifyChannel)).toBeLessThanOrEqual(63);
    expect(long.notifyChannel).not.toBe(
      outbox({ source: "/s", schema: "s".repeat(60), table: "u".repeat(60) }).notifyChannel,
    );
  });
});

describe("Outbox.publish", () => {
  const box = new Outbox({ source: "/services/orders", schema: "shop", maxMessageBytes: 2048 });

  afterEach(() => {
    propagation.disable();
  });

  it("writes one INSERT with the envelope's columns and returns the envelope", async () => {
    const db = recordingDb();
    const envelope = await box.publish(
      db,
      orderPlaced,
      { orderId: "o-1", total: 3 },
      {
        key: "o-1",
        subject: "o-1",
        correlationId: "c-1",
        causationId: "m-0",
        headers: { "x-tenant": "acme" },
        delay: "1.5s",
      },
    );
    expect(envelope).toMatchObject({
      type: "orders.order-placed",
      source: "/services/orders",
      schemaversion: 2,
      partitionkey: "o-1",
      subject: "o-1",
      correlationid: "c-1",
      causationid: "m-0",
      data: { orderId: "o-1", total: 3 },
    });
    expect(db.calls).toHaveLength(1);
    // One row: plain parameters (a prepared statement), not the arrays of a batch.
    const call = db.calls[0] as { text: string; values: unknown[] };
    expect(call.text).toMatch(/^INSERT INTO "shop"\."outbox"/);
    const [ids, aggregateTypes, aggregateIds, types, payloads, topics, headers, delays] = call.values;
    expect(ids).toEqual(envelope.id);
    expect(aggregateTypes).toEqual("orders");
    expect(aggregateIds).toEqual("o-1");
    expect(types).toEqual("orders.order-placed");
    expect(JSON.parse(payloads as string)).toEqual({ orderId: "o-1", total: 3 });
    expect(topics).toEqual("orders.order-placed");
    expect(JSON.parse(headers as string)).toMatchObject({
      source: "/services/orders",
      "x-tenant": "acme",
    });
    expect(delays).toEqual(1500);
  });

  it("records the active trace context as traceparent and tracestate", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const fixed: TextMapPropagator = {
      inject(_context, carrier, setter) {
        setter.set(carrier, "traceparent", traceparent);
        setter.set(carrier, "tracestate", "flt=1");
      },
      extract: (context) => context,
      fields: () => ["traceparent", "tracestate"],
    };
    propagation.setGlobalPropagator(fixed);
    const envelope = await box.publish(recordingDb(), orderPlaced, { orderId: "o-1", total: 1 });
    expect(envelope.traceparent).toBe(traceparent);
    expect(envelope.tracestate).toBe("flt=1");
  });

  it("refuses invalid data naming each failing path, and writes nothing", async () => {
    const db = recordingDb();
    const error = await rejection(() => box.publish(db, orderPlaced, { orderId: 5, total: -1 } as never));
    expect(isMessagingError(error, MessagingErrorCode.PayloadInvalid)).toBe(true);
    expect((error as Error).message).toMatch(/orderId: .*; total: /);
    expect(db.calls).toHaveLength(0);
  });

  it("refuses a message over maxMessageBytes", async () => {
    const error = await rejection(() =>
      box.publish(recordingDb(), orderPlaced, { orderId: "x".repeat(3000), total: 1 }),
    );
    expect(isMessagingError(error, MessagingErrorCode.MessageTooLarge)).toBe(true);
    expect((error as Error).message).toMatch(/over the limit of 2048 bytes/);
  });

  it("refuses a header named after an envelope attribute, a non-UUID id and a bad delay", async () => {
    const data = { orderId: "o", total: 1 };
    for (const options of [
      { headers: { Source: "x" } },
      { id: "not-a-uuid" },
      { delay: "soon" },
      { replyTo: "bad topic" },
    ]) {
      const error = await rejection(() => box.publish(recordingDb(), orderPlaced, data, options));
      expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid), JSON.stringify(options)).toBe(true);
    }
  });

  it("publishMany checks every entry before writing, then writes them in one INSERT in order", async () => {
    const db = recordingDb();
    const bad = await rejection(() =>
      box.publishMany(db, [
        { event: orderPlaced, data: { orderId: "a", total: 1 } },
        { event: orderPlaced, data: { orderId: "b" } as never },
      ]),
    );
    expect(isMessagingError(bad, MessagingErrorCode.PayloadInvalid)).toBe(true);
    expect(db.calls).toHaveLength(0);

    const envelopes = await box.publishMany(db, [
      { event: orderPlaced, data: { orderId: "a", total: 1 }, options: { key: "k" } },
      { event: orderPlaced, data: { orderId: "b", total: 2 }, options: { aggregateType: "order" } },
    ]);
    expect(db.calls).toHaveLength(1);
    const values = db.calls[0]?.values as unknown[][];
    expect(values[0]).toEqual(envelopes.map((e) => e.id));
    expect(values[1]).toEqual(["orders", "order"]);
    expect(values[2]).toEqual(["k", null]);
    await box.publishMany(db, []);
    expect(db.calls).toHaveLength(1);
  });

  it("publishEnvelope stores a prebuilt envelope for a topic", async () => {
    const db = recordingDb();
    const reply = createEnvelope({
      type: "orders.reply",
      source: "/services/orders",
      data: { ok: true },
      partitionkey: "r",
    });
    await box.publishEnvelope(db, reply, "client.replies", { headers: { "x-a": "b" } });
    const values = db.calls[0]?.values as unknown[];
    expect(values[0]).toEqual(reply.id);
    expect(values[2]).toEqual("r");
    expect(values[5]).toEqual("client.replies");
    await expect(box.publishEnvelope(db, reply, "not a topic")).rejects.toThrow(/topic/);
  });
});
