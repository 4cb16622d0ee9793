import { randomBytes, randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { isMessagingError, MessagingErrorCode } from "../src/errors/messaging-error.js";
import type { Delivery, OutgoingMessage, Subscription, Transport } from "../src/transport/transport.js";
import { type NatsTransport, natsTransport } from "../src/transports/nats/nats-transport.js";
import type { NatsTransportOptions } from "../src/transports/nats/nats-transport-options.js";
import { collector, delay } from "./fixtures/wait-for.js";

const servers = "127.0.0.1:4222";
const opened: { namespace: string; transports: Transport[]; subscriptions: Subscription[] }[] = [];

/** A transport on a fresh stream of its own; everything is closed and deleted after the test. */
async function setUp(options: NatsTransportOptions = {}) {
  const namespace = `n${randomBytes(4).toString("hex")}`;
  const entry = { namespace, transports: [] as Transport[], subscriptions: [] as Subscription[] };
  opened.push(entry);
  const transport: NatsTransport = await natsTransport({
    servers,
    stream: namespace.toUpperCase(),
    subjectPrefix: namespace,
    ackWait: "2s",
    ...options,
  });
  entry.transports.push(transport);
  const received = collector<{ id: string; attempt: number; queue: string }>();
  return {
    transport,
    received,
    topic: (suffix: string) => `${namespace}.${suffix}`,
    message: (topic: string, init: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
      id: randomUUID(),
      topic,
      body: new TextEncoder().encode("{}"),
      ...init,
    }),
    subscribe: async (queue: string, topics: string[], act: (d: Delivery) => Promise<void>, prefetch = 1) => {
      const subscription = await transport.subscribe({
        queue,
        topics,
        prefetch,
        handler: async (delivery) => {
          received.push({ id: delivery.message.id, attempt: delivery.attempt, queue });
          await act(delivery);
        },
      });
      entry.subscriptions.push(subscription);
      return subscription;
    },
  };
}

afterEach(async () => {
  for (const { namespace, transports, subscriptions } of opened.splice(0)) {
    for (const subscription of subscriptions) await subscription.close();
    for (const transport of transports) await transport.close();
    const nc = await connect({ servers });
    try {
      const jsm = await jetstreamManager(nc);
      for (const name of [namespace.toUpperCase(), `${namespace.toUpperCase()}_DLQ`]) {
        await jsm.streams.delete(name).catch(() => false);
      }
    } finally {
      await nc.close();
    }
  }
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("NATS transport specifics", () => {
  it("drops a second publish of the same id (Nats-Msg-Id de-duplication)", async () => {
    const t = await setUp();
    await t.subscribe(`${t.topic("dedup")}`, [t.topic("dedup.*")], (d) => d.ack());
    const message = t.message(t.topic("dedup.created"));
    await t.transport.publish([message]);
    await t.transport.publish([message]);
    const fence = t.message(t.topic("dedup.fence"));
    await t.transport.publish([fence]);
    await t.received.waitFor((items) => items.some((item) => item.id === fence.id), { what: "the fence" });
    expect(t.received.items.map((item) => item.id)).toEqual([message.id, fence.id]);
  });

  it("dead-letters on the last allowed delivery (maxDeliver) instead of letting JetStream drop it", async () => {
    const t = await setUp({ maxDeliver: 3 });
    const queue = t.topic("doomed");
    await t.subscribe(queue, [t.topic("max.*")], (d) => d.retry(0, "still failing"));
    const message = t.message(t.topic("max.one"));
    await t.transport.publish([message]);
    await t.received.waitForCount(3, { what: "three attempts" });
    let letters = await t.transport.deadLetters.list({ queue });
    for (let tries = 0; letters.length === 0 && tries < 100; tries++) {
      await delay(50);
      letters = await t.transport.deadLetters.list({ queue });
    }
    expect(t.received.items.map((item) => item.attempt)).toEqual([1, 2, 3]);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.message.id).toBe(message.id);
    expect(letters[0]?.reason.code).toBe("max-attempts");
    expect(letters[0]?.reason.message).toContain("still failing");
    expect(letters[0]?.attempts).toBe(3);
  });

  it("dead-letters a message as poison when its deliveries run out unsettled, without calling the handler", async () => {
    const t = await setUp({ maxDeliver: 2, ackWait: "400ms" });
    const queue = t.topic("poison");
    // Never settles: what a handler that crashed the process looks like to JetStream.
    await t.subscribe(queue, [t.topic("poison.*")], async () => {});
    const message = t.message(t.topic("poison.pill"));
    await t.transport.publish([message]);
    await t.received.waitForCount(2, { what: "two unsettled deliveries" });
    let letters = await t.transport.deadLetters.list({ queue });
    for (let tries = 0; letters.length === 0 && tries < 200; tries++) {
      await delay(50);
      letters = await t.transport.deadLetters.list({ queue });
    }
    expect(letters.map((letter) => [letter.message.id, letter.reason.code, letter.attempts])).toEqual([
      [message.id, "poison", 3],
    ]);
    expect(t.received.items.map((item) => item.attempt)).toEqual([1, 2]);
  });

  it("retry(delay) NAKs with that delay", async () => {
    const t = await setUp();
    let retriedAt = 0;
    const times: number[] = [];
    await t.subscribe(t.topic("nak"), [t.topic("nak.*")], async (d) => {
      times.push(performance.now());
      if (d.attempt === 1) {
        retriedAt = performance.now();
        await d.retry(800, "later");
      } else await d.ack();
    });
    await t.transport.publish([t.message(t.topic("nak.one"))]);
    await t.received.waitForCount(2, { what: "the redelivery" });
    expect(times[1]! - retriedAt).toBeGreaterThanOrEqual(750);
  });

  it("does not hold other messages behind a delayed one, even with prefetch 1", async () => {
    const t = await setUp();
    await t.subscribe(t.topic("sched"), [t.topic("sched.*")], (d) => d.ack(), 1);
    const delayed = t.message(t.topic("sched.later"), { delayMs: 1_500 });
    const immediate = t.message(t.topic("sched.now"));
    const publishedAt = performance.now();
    await t.transport.publish([delayed, immediate]);
    await t.received.waitFor((items) => items.some((item) => item.id === immediate.id), {
      what: "immediate",
    });
    expect(performance.now() - publishedAt).toBeLessThan(1_400);
    await t.received.waitFor((items) => items.some((item) => item.id === delayed.id), { what: "delayed" });
    expect(performance.now() - publishedAt).toBeGreaterThanOrEqual(1_450);
    expect(t.received.items.map((item) => [item.id, item.attempt])).toEqual([
      [immediate.id, 1],
      [delayed.id, 1],
    ]);
  });

  it("delivers a message once to a queue whose patterns overlap, including `a.#` for the bare `a`", async () => {
    const t = await setUp();
    await t.subscribe(
      t.topic("overlap"),
      [t.topic("x.*"), t.topic("x.a"), t.topic("x.#")],
      (d) => d.ack(),
      4,
    );
    const messages = [t.message(t.topic("x.a")), t.message(t.topic("x")), t.message(t.topic("x.b.c"))];
    await t.transport.publish(messages);
    const fence = t.message(t.topic("x.fence"));
    await t.received.waitForCount(3, { what: "three deliveries" });
    await t.transport.publish([fence]);
    await t.received.waitFor((items) => items.some((item) => item.id === fence.id), { what: "the fence" });
    expect(t.received.items.map((item) => item.id).sort()).toEqual(
      [...messages, fence].map((m) => m.id).sort(),
    );
  });

  it("replays a dead letter only to its own queue", async () => {
    const t = await setUp();
    const first = t.topic("first");
    const second = t.topic("second");
    const doomed = new Set<string>();
    await t.subscribe(first, [t.topic("r.*")], (d) =>
      doomed.delete(d.message.id) ? d.deadLetter({ code: "invalid", message: "no" }) : d.ack(),
    );
    await t.subscribe(second, [t.topic("r.*")], (d) => d.ack());
    const message = t.message(t.topic("r.one"));
    doomed.add(message.id);
    await t.transport.publish([message]);
    await t.received.waitForCount(2, { what: "both queues" });
    let letters = await t.transport.deadLetters.list({ queue: first });
    for (let tries = 0; letters.length === 0 && tries < 100; tries++) {
      await delay(50);
      letters = await t.transport.deadLetters.list({ queue: first });
    }
    expect(await t.transport.deadLetters.replay({ queue: first })).toBe(1);
    await t.received.waitForCount(3, { what: "the replay" });
    const fence = t.message(t.topic("r.fence"));
    await t.transport.publish([fence]);
    await t.received.waitFor((items) => items.filter((item) => item.id === fence.id).length === 2, {
      what: "the fence on both queues",
    });
    const ofMessage = t.received.items.filter((item) => item.id === message.id).map((item) => item.queue);
    expect(ofMessage.sort()).toEqual([first, first, second].sort());
  });

  it("keeps a handler that outlasts ackWait from being redelivered meanwhile", async () => {
    const t = await setUp({ ackWait: "400ms" });
    await t.subscribe(t.topic("slow"), [t.topic("slow.*")], async (d) => {
      await delay(1_500);
      await d.ack();
    });
    const message = t.message(t.topic("slow.one"));
    await t.transport.publish([message]);
    await t.received.waitForCount(1, { what: "the first delivery" });
    const fence = t.message(t.topic("slow.fence"));
    await t.transport.publish([fence]);
    await t.received.waitFor((items) => items.some((item) => item.id === fence.id), {
      what: "the fence",
    });
    expect(t.received.items.map((item) => item.id)).toEqual([message.id, fence.id]);
  });

  it("rejects bad options with FLT_MESSAGING_CONFIG_INVALID naming each option", async () => {
    const error = await rejection(
      natsTransport({
        servers: [],
        stream: "has.dot",
        ackWait: "soon",
        maxDeliver: 0,
        bogus: true,
      } as unknown as NatsTransportOptions),
    );
    expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid)).toBe(true);
    const text = (error as Error).message;
    for (const path of ["servers", "stream", "ackWait", "maxDeliver", "bogus"]) expect(text).toContain(path);
  });

  it("rejects with FLT_MESSAGING_TRANSPORT_UNAVAILABLE when no server listens", async () => {
    const error = await rejection(natsTransport({ servers: "127.0.0.1:1", publishTimeout: "1s" }));
    expect(isMessagingError(error, MessagingErrorCode.TransportUnavailable)).toBe(true);
  });
});
