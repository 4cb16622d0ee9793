import { randomBytes, randomUUID } from "node:crypto";
import { type Channel, Connection } from "rabbitmq-client";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { isMessagingError, MessagingErrorCode, PublishFailedError } from "../src/errors/messaging-error.js";
import type { Delivery, OutgoingMessage } from "../src/transport/transport.js";
import { type RabbitMqTransport, rabbitmqTransport } from "../src/transports/rabbitmq/rabbitmq-transport.js";
import type { RabbitMqTransportOptions } from "../src/transports/rabbitmq/rabbitmq-transport-options.js";
import { type TcpProxy, tcpProxy } from "./fixtures/tcp-proxy.js";
import { collector, waitFor, withTimeout } from "./fixtures/wait-for.js";

const server = { host: "127.0.0.1", port: 5672 };
const url = (endpoint = server) => `amqp://guest:guest@${endpoint.host}:${endpoint.port}`;
const admin = new Connection({ url: url(), connectionName: "rabbitmq-specific-admin" });
admin.on("error", () => {});

afterAll(async () => {
  await admin.close();
});

/** Runs `work` on a channel of its own (a failed declare closes the channel it ran on). */
async function onChannel<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await admin.acquire();
  try {
    return await work(channel);
  } finally {
    await channel.close().catch(() => {});
  }
}

function messageCount(queue: string): Promise<number> {
  return onChannel(async (channel) => (await channel.queueDeclare({ queue, passive: true })).messageCount);
}

describe("RabbitMQ transport specifics", () => {
  let ns: string;
  let transports: RabbitMqTransport[];
  let proxies: TcpProxy[];

  beforeEach(() => {
    ns = `r${randomBytes(5).toString("hex")}`;
    transports = [];
    proxies = [];
  });

  afterEach(async () => {
    for (const transport of transports) await transport.close();
    for (const proxy of proxies) await proxy.close();
    const queues = new Set(transports.flatMap((transport) => transport.declaredNames.queues));
    const exchanges = new Set(transports.flatMap((transport) => transport.declaredNames.exchanges));
    for (const queue of queues) await admin.queueDelete({ queue });
    for (const exchange of exchanges) await admin.exchangeDelete({ exchange });
  });

  function transport(options: RabbitMqTransportOptions = {}): RabbitMqTransport {
    const created = rabbitmqTransport({ url: url(), exchange: ns, ...options });
    transports.push(created);
    return created;
  }

  function message(topic: string, init: Partial<OutgoingMessage> = {}): OutgoingMessage {
    return { id: randomUUID(), topic, body: Buffer.from(JSON.stringify({ n: 1 })), ...init };
  }

  it("declares the retry ladder with its TTLs and sends a retry through the right rung", async () => {
    const rabbit = transport({ retryDelays: ["2s", "1m"] });
    const queue = `${ns}.ladder`;
    const attempts = collector<number>();
    const retried = collector<void>();
    await rabbit.subscribe({
      queue,
      topics: [`${ns}.ladder.*`],
      prefetch: 1,
      handler: async (delivery) => {
        attempts.push(delivery.attempt);
        if (delivery.attempt > 1) return delivery.ack();
        await delivery.retry(10, "not yet");
        retried.push();
      },
    });

    // Re-declaring with other arguments fails, so these prove the queues' arguments.
    const rung = {
      durable: true,
      arguments: { "x-queue-type": "classic", "x-dead-letter-exchange": "" },
    } as const;
    for (const ttl of [2_000, 60_000]) {
      await onChannel((channel) =>
        channel.queueDeclare({
          queue: `${queue}.retry.${ttl}`,
          ...rung,
          arguments: { ...rung.arguments, "x-message-ttl": ttl, "x-dead-letter-routing-key": queue },
        }),
      );
    }
    await expect(
      onChannel((channel) =>
        channel.queueDeclare({
          queue: `${queue}.retry.2000`,
          ...rung,
          arguments: { ...rung.arguments, "x-message-ttl": 2_001, "x-dead-letter-routing-key": queue },
        }),
      ),
    ).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });

    await rabbit.publish([message(`${ns}.ladder.go`)]);
    await retried.waitForCount(1, { what: "the retry to be published" });
    // retry(10) waits in the smallest rung that is long enough: 2 s, not 1 min.
    expect(await messageCount(`${queue}.retry.2000`)).toBe(1);
    expect(await messageCount(`${queue}.retry.60000`)).toBe(0);
    const items = await attempts.waitForCount(2, { what: "the retried delivery" });
    expect(items).toEqual([1, 2]);
  });

  it("waits a delay longer than the largest rung in several trips", async () => {
    const rabbit = transport({ retryDelays: [200] });
    const arrivals = collector<{ attempt: number; at: number }>();
    let retriedAt = 0;
    await rabbit.subscribe({
      queue: `${ns}.long`,
      topics: [`${ns}.long.*`],
      prefetch: 1,
      handler: async (delivery) => {
        arrivals.push({ attempt: delivery.attempt, at: performance.now() });
        if (delivery.attempt > 1) return delivery.ack();
        retriedAt = performance.now();
        await delivery.retry(700, "later");
      },
    });
    await rabbit.publish([message(`${ns}.long.go`)]);
    const items = await arrivals.waitForCount(2, { what: "the retried delivery" });
    expect(items.map((item) => item.attempt)).toEqual([1, 2]);
    expect(items[1]!.at - retriedAt).toBeGreaterThanOrEqual(650);
  });

  it("delivers a delayed publish to every subscribed queue, keeping its topic", async () => {
    const rabbit = transport({ retryDelays: [300] });
    const received = collector<{ queue: string; topic: string }>();
    for (const name of ["one", "two"]) {
      await rabbit.subscribe({
        queue: `${ns}.${name}`,
        topics: [`${ns}.later.#`],
        prefetch: 1,
        handler: async (delivery) => {
          received.push({ queue: name, topic: delivery.message.topic });
          await delivery.ack();
        },
      });
    }
    await rabbit.publish([message(`${ns}.later.go`, { delayMs: 250 })]);
    const items = await received.waitForCount(2, { what: "the delayed message on both queues" });
    expect(items.map((item) => item.queue).sort()).toEqual(["one", "two"]);
    expect(items.map((item) => item.topic)).toEqual([`${ns}.later.go`, `${ns}.later.go`]);
  });

  it("lands a message the broker dead-letters (a reject) in the dead-letter queue too", async () => {
    const rabbit = transport();
    const queue = `${ns}.rejected`;
    const subscription = await rabbit.subscribe({
      queue,
      topics: [`${ns}.rejected.*`],
      prefetch: 1,
      handler: (delivery) => delivery.ack(),
    });
    await subscription.close();
    const sent = message(`${ns}.rejected.x`, { key: "k1" });
    await rabbit.publish([sent]);
    await onChannel(async (channel) => {
      const msg = await channel.basicGet({ queue, noAck: false });
      expect(msg?.messageId).toBe(sent.id);
      channel.basicNack({ deliveryTag: msg!.deliveryTag, requeue: false });
    });
    let found: Awaited<ReturnType<typeof rabbit.deadLetters.list>> = [];
    // Dead-lettering is asynchronous in the broker: a bounded wait for it.
    await waitFor(
      async () => {
        found = await rabbit.deadLetters.list({ queue });
        return found.length > 0;
      },
      { what: "the rejected message in the dead-letter queue" },
    );
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toMatchObject({ id: sent.id, topic: sent.topic, key: "k1" });
    expect(found[0]?.reason).toEqual({ code: "permanent", message: "dead-lettered by RabbitMQ (rejected)" });
    expect(await rabbit.deadLetters.replay({ ids: [found[0]!.id] })).toBe(1);
    expect(await messageCount(queue)).toBe(1);
  });

  it("dead-letters with headers for the reason, attempts, topic, key, time and a unique id", async () => {
    const rabbit = transport();
    const queue = `${ns}.doomed`;
    const done = collector<void>();
    await rabbit.subscribe({
      queue,
      topics: [`${ns}.doomed.*`],
      prefetch: 1,
      handler: async (delivery) => {
        await delivery.deadLetter({ code: "permanent", message: "order 7 does not exist" });
        done.push();
      },
    });
    const sent = message(`${ns}.doomed.created`, { key: "order-7", headers: { "x-tenant": "acme" } });
    await rabbit.publish([sent]);
    await done.waitForCount(1, { what: "the dead-letter publish" });

    const fetched = await onChannel(async (channel) => {
      const msg = await channel.basicGet({ queue: `${queue}.dead`, noAck: false });
      await channel.basicRecover({ requeue: true });
      return msg;
    });
    expect(fetched?.messageId).toBe(sent.id);
    expect(fetched?.contentType).toBe("application/cloudevents+json");
    expect(fetched?.durable).toBe(true);
    expect(fetched?.headers).toMatchObject({
      "x-tenant": "acme",
      "x-flotilla-key": "order-7",
      "x-flotilla-topic": sent.topic,
      "x-flotilla-dead-code": "permanent",
      "x-flotilla-dead-message": "order 7 does not exist",
      "x-flotilla-dead-attempts": 1,
      "x-flotilla-dead-queue": queue,
    });
    const headers = fetched?.headers ?? {};
    expect(headers["x-flotilla-dead-letter-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.now() - Date.parse(headers["x-flotilla-dead-at"])).toBeLessThan(60_000);

    const [letter] = await rabbit.deadLetters.list({ queue });
    expect(letter?.id).toBe(`${queue}:${headers["x-flotilla-dead-letter-id"]}`);
    expect(letter?.message.headers).toEqual({ "x-tenant": "acme" });
  });

  it("rejects a publish the broker refuses (exchange deleted) with PublishFailedError, then recovers", async () => {
    const rabbit = transport();
    const received = collector<string>();
    await rabbit.subscribe({
      queue: `${ns}.confirm`,
      topics: [`${ns}.confirm.*`],
      prefetch: 4,
      handler: async (delivery) => {
        received.push(delivery.message.id);
        await delivery.ack();
      },
    });
    await rabbit.publish([message(`${ns}.confirm.warmup`)]);
    await admin.exchangeDelete({ exchange: ns });

    const refused = await rabbit.publish([message(`${ns}.confirm.a`), message(`${ns}.confirm.b`)]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(PublishFailedError);
    expect((refused as PublishFailedError).published).toBe(0);
    expect((refused as Error).message).toMatch(/NOT_FOUND|no exchange/i);

    // The publisher's next channel declares the exchange again (the subscription's binding went
    // with the old exchange, so nothing is delivered).
    await rabbit.publish([message(`${ns}.confirm.c`)]);
    await onChannel((channel) => channel.exchangeDeclare({ exchange: ns, passive: true }));
  });

  for (const queueType of ["quorum", "classic"] as const) {
    it(`counts a redelivery after a cut connection in attempt (${queueType} queue)`, async () => {
      const proxy = await tcpProxy(server);
      proxies.push(proxy);
      const rabbit = transport({
        url: url(proxy),
        queueType,
        reconnectDelay: { min: 50, max: 200 },
      });
      const attempts = collector<number>();
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      await rabbit.subscribe({
        queue: `${ns}.redeliver`,
        topics: [`${ns}.redeliver.*`],
        prefetch: 1,
        handler: async (delivery: Delivery) => {
          attempts.push(delivery.attempt);
          if (delivery.attempt === 1) await gate;
          await delivery.ack();
        },
      });
      await rabbit.publish([message(`${ns}.redeliver.go`)]);
      await attempts.waitForCount(1, { what: "the first delivery" });
      proxy.cut();
      release();
      const items = await attempts.waitForCount(2, { what: "the redelivery after the cut", timeout: 20_000 });
      expect(items).toEqual([1, 2]);
    }, 30_000);
  }

  it("refuses to subscribe to an existing queue of another type with FLT_MESSAGING_CONFIG_INVALID", async () => {
    const classic = transport({ queueType: "classic" });
    const quorum = transport({ queueType: "quorum" });
    const options = { queue: `${ns}.typed`, topics: [`${ns}.typed.*`], prefetch: 1 };
    const subscription = await classic.subscribe({ ...options, handler: (delivery) => delivery.ack() });
    await subscription.close();
    const refused = await quorum.subscribe({ ...options, handler: (delivery) => delivery.ack() }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isMessagingError(refused, MessagingErrorCode.ConfigInvalid)).toBe(true);
    expect((refused as Error).message).toContain(`${ns}.typed`);
  });

  it("rejects bad options naming each of them", () => {
    let thrown: unknown;
    try {
      rabbitmqTransport({
        url: "http://localhost",
        host: "localhost",
        exchange: "has space",
        queueType: "lazy" as never,
        retryDelays: ["1s", "soon", -5],
        publishTimeout: 0,
        logger: {} as never,
        bogus: true,
      } as RabbitMqTransportOptions);
    } catch (error) {
      thrown = error;
    }
    expect(isMessagingError(thrown, MessagingErrorCode.ConfigInvalid)).toBe(true);
    const text = (thrown as Error).message;
    for (const path of [
      "rabbitmq.url",
      "rabbitmq.exchange",
      "rabbitmq.queueType",
      "rabbitmq.retryDelays[1]",
      "rabbitmq.retryDelays[2]",
      "rabbitmq.publishTimeout",
      "rabbitmq.logger",
      "rabbitmq.bogus",
    ]) {
      expect(text).toContain(path);
    }
    expect(text).not.toContain("retryDelays[0]");
  });

  it("rejects a publish within publishTimeout while the broker is unreachable", async () => {
    const proxy = await tcpProxy(server);
    proxies.push(proxy);
    await proxy.stop();
    const rabbit = transport({ url: url(proxy), publishTimeout: 300 });
    const started = performance.now();
    const outcome = await withTimeout(
      rabbit.publish([message(`${ns}.down.x`)]).then(
        () => "published",
        (error: unknown) => error,
      ),
      5_000,
      "publish while down",
    );
    expect(isMessagingError(outcome, MessagingErrorCode.TransportUnavailable)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    await proxy.start();
  });
});
