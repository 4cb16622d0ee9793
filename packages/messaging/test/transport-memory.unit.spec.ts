// The memory transport: the transport conformance suite (no network tests), then its own
// behaviour with a fake clock: delays, handler failures, settling twice, queues kept after a
// subscription closes, option and input validation.
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isMessagingError, MessagingErrorCode } from "../src/errors/messaging-error.js";
import type { MessagingLogger as MemoryTransportLogger } from "../src/messaging-logger.js";
import type { Delivery, OutgoingMessage } from "../src/transport/transport.js";
import { type MemoryTransport, memoryTransport } from "../src/transports/memory/memory-transport.js";
import { transportConformance } from "./fixtures/transport-conformance.js";
import { collector } from "./fixtures/wait-for.js";

transportConformance({
  name: "memory",
  network: false,
  server: { host: "127.0.0.1", port: 0 },
  create: async () => memoryTransport({ retryDelayOnThrowMs: 50 }),
});

function message(topic: string, init: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: crypto.randomUUID(), topic, body: new TextEncoder().encode("{}"), ...init };
}

function recordingLogger(): MemoryTransportLogger & { warnings: { fields: object; message: string }[] } {
  const warnings: { fields: object; message: string }[] = [];
  const ignore = () => {};
  return {
    debug: ignore,
    info: ignore,
    error: ignore,
    warn: (fields, text) => warnings.push({ fields, message: text }),
    warnings,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => "resolved",
    (error: unknown) => error,
  );
}

describe("memory transport", () => {
  let clock: FakeClock;
  let transport: MemoryTransport;

  function create(options: Parameters<typeof memoryTransport>[0] = {}): MemoryTransport {
    clock = new FakeClock();
    transport = memoryTransport({ clock, ...options });
    return transport;
  }

  afterEach(async () => {
    await transport?.close();
  });

  it("holds a delayed publish until the clock reaches its delay", async () => {
    create();
    const received = collector<Delivery>();
    await transport.subscribe({
      queue: "q",
      topics: ["a.b"],
      prefetch: 1,
      handler: async (d) => {
        received.push(d);
        await d.ack();
      },
    });
    await transport.publish([message("a.b", { delayMs: 1_000 })]);
    await clock.advance(999);
    expect(received.items).toHaveLength(0);
    expect(transport.depth("q")).toBe(1);
    await clock.advance(1);
    expect(received.items).toHaveLength(1);
    expect(received.items[0]?.attempt).toBe(1);
  });

  it("redelivers retry(500) after exactly 500 ms of clock time, with attempt 2", async () => {
    create();
    const attempts = collector<number>();
    await transport.subscribe({
      queue: "q",
      topics: ["a.*"],
      prefetch: 1,
      handler: async (d) => {
        attempts.push(d.attempt);
        await (d.attempt === 1 ? d.retry(500, "later") : d.ack());
      },
    });
    await transport.publish([message("a.b")]);
    await clock.flush();
    expect(attempts.items).toEqual([1]);
    await clock.advance(499);
    expect(attempts.items).toEqual([1]);
    await clock.advance(1);
    expect(attempts.items).toEqual([1, 2]);
  });

  it("retries after retryDelayOnThrowMs when the handler throws or returns without settling, and logs it", async () => {
    const logger = recordingLogger();
    create({ retryDelayOnThrowMs: 200, logger });
    const attempts = collector<string>();
    await transport.subscribe({
      queue: "q",
      topics: ["a.#"],
      prefetch: 2,
      handler: async (d) => {
        attempts.push(`${d.message.topic}#${d.attempt}`);
        if (d.attempt > 1) return d.ack();
        if (d.message.topic === "a.throws") throw new Error("boom");
      },
    });
    await transport.publish([message("a.throws"), message("a.forgets")]);
    await clock.advance(199);
    expect([...attempts.items].sort()).toEqual(["a.forgets#1", "a.throws#1"]);
    await clock.advance(1);
    expect([...attempts.items].sort()).toEqual(["a.forgets#1", "a.forgets#2", "a.throws#1", "a.throws#2"]);
    expect(logger.warnings.map((w) => w.message).sort()).toEqual([
      "memory transport: handler returned without settling; retrying",
      "memory transport: handler threw; retrying",
    ]);
    expect(logger.warnings.find((w) => w.message.includes("threw"))?.fields).toMatchObject({
      queue: "q",
      attempt: 1,
      retryInMs: 200,
      err: expect.objectContaining({ message: "boom" }),
    });
  });

  it("ignores and logs a second settle call", async () => {
    const logger = recordingLogger();
    create({ logger });
    const deliveries = collector<Delivery>();
    await transport.subscribe({
      queue: "q",
      topics: ["a"],
      prefetch: 1,
      handler: async (d) => {
        deliveries.push(d);
        await d.ack();
        await d.retry(0, "again");
        await d.deadLetter({ code: "invalid", message: "too late" });
      },
    });
    await transport.publish([message("a")]);
    await clock.advance(10_000);
    expect(deliveries.items).toHaveLength(1);
    expect(await transport.deadLetters.list()).toEqual([]);
    expect(logger.warnings.map((w) => w.fields)).toEqual([
      expect.objectContaining({ attempted: "retry", settledBy: "ack" }),
      expect.objectContaining({ attempted: "deadLetter", settledBy: "ack" }),
    ]);
  });

  it("rejects a bad retry delay or dead-letter reason and leaves the delivery unsettled", async () => {
    create();
    const outcomes = collector<unknown[]>();
    await transport.subscribe({
      queue: "q",
      topics: ["a"],
      prefetch: 1,
      handler: async (d) => {
        const bad = [
          await rejection(d.retry(-1, "x")),
          await rejection(d.deadLetter({ code: "nope" as "invalid", message: "x" })),
        ];
        await d.ack();
        outcomes.push(bad);
      },
    });
    await transport.publish([message("a")]);
    const [bad] = await outcomes.waitForCount(1, { what: "the handler's outcomes", timeout: 2_000 });
    for (const error of bad!) expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid)).toBe(true);
    expect((bad![0] as Error).message).toMatch(/delayMs/);
    expect((bad![1] as Error).message).toMatch(/reason\.code/);
  });

  it("drops messages for topics no queue is bound to, and keeps a queue's messages after its subscription closes", async () => {
    create();
    await transport.publish([message("early")]);
    const first = collector<string>();
    const subscription = await transport.subscribe({
      queue: "q",
      topics: ["early", "later"],
      prefetch: 1,
      handler: async (d) => {
        first.push(d.message.id);
        await d.ack();
      },
    });
    await clock.flush();
    expect(first.items).toEqual([]);
    await subscription.close();
    const kept = message("later");
    await transport.publish([kept]);
    expect(transport.depth("q")).toBe(1);

    const second = collector<string>();
    await transport.subscribe({
      queue: "q",
      topics: ["later"],
      prefetch: 1,
      handler: async (d) => {
        second.push(d.message.id);
        await d.ack();
      },
    });
    await second.waitForCount(1, { what: "the kept message", timeout: 2_000 });
    expect(second.items).toEqual([kept.id]);
    expect(transport.depth("q")).toBe(0);
  });

  it("on close, gives back the messages a subscription held but had not started, without counting an attempt", async () => {
    create();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started = collector<string>();
    const subscription = await transport.subscribe({
      queue: "q",
      topics: ["k"],
      prefetch: 4,
      handler: async (d) => {
        started.push(d.message.id);
        await gate;
        await d.ack();
      },
    });
    const messages = [1, 2, 3].map(() => message("k", { key: "same" }));
    await transport.publish(messages);
    await started.waitForCount(1, { what: "the first handler", timeout: 2_000 });
    const closing = subscription.close();
    release();
    await closing;
    expect(started.items).toEqual([messages[0]!.id]);
    expect(transport.depth("q")).toBe(2);

    const later = collector<Delivery>();
    await transport.subscribe({
      queue: "q",
      topics: ["k"],
      prefetch: 4,
      handler: async (d) => {
        later.push(d);
        await d.ack();
      },
    });
    await later.waitForCount(2, { what: "the given-back messages", timeout: 2_000 });
    expect(later.items.map((d) => [d.message.id, d.attempt])).toEqual([
      [messages[1]!.id, 1],
      [messages[2]!.id, 1],
    ]);
  });

  it("copies published bodies, so changing the caller's bytes afterwards changes nothing", async () => {
    create();
    const bodies = collector<string>();
    await transport.subscribe({
      queue: "q",
      topics: ["a"],
      prefetch: 1,
      handler: async (d) => {
        bodies.push(new TextDecoder().decode(d.message.body));
        await d.ack();
      },
    });
    const body = new TextEncoder().encode("abc");
    await transport.publish([message("a", { body, delayMs: 10 })]);
    body[0] = 0x7a;
    await clock.advance(10);
    expect(bodies.items).toEqual(["abc"]);
  });

  it("validates its options, naming the bad one", () => {
    const attempts: unknown[] = [
      { retryDelayOnThrowMs: -1 },
      { clock: {} },
      { logger: { info: () => {} } },
      { retryDelay: 5 },
    ];
    const messages = attempts.map((options) => {
      try {
        memoryTransport(options as Parameters<typeof memoryTransport>[0]);
        return "accepted";
      } catch (error) {
        expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid)).toBe(true);
        return (error as Error).message;
      }
    });
    expect(messages[0]).toMatch(/memory\.retryDelayOnThrowMs: must be at least 0/);
    expect(messages[1]).toMatch(/memory\.clock/);
    expect(messages[2]).toMatch(/memory\.logger/);
    expect(messages[3]).toMatch(/memory\.retryDelay: unknown option/);
  });

  it("rejects bad publish input, naming the field, and publishes nothing of that batch", async () => {
    create();
    const handler = vi.fn(async (d: Delivery) => d.ack());
    await transport.subscribe({ queue: "q", topics: ["a"], prefetch: 1, handler });
    const cases: [unknown, RegExp][] = [
      [[message("a"), { ...message("a"), body: "text" }], /messages\[1\]\.body must be a Uint8Array/],
      [[message("a", { delayMs: -5 })], /messages\[0\]\.delayMs/],
      [[{ ...message("a"), id: "" }], /messages\[0\]\.id/],
      [[message("a", { headers: { n: 1 as unknown as string } })], /messages\[0\]\.headers\.n/],
      [[message("a..b")], /messages\[0\]\.topic/],
    ];
    for (const [batch, expected] of cases) {
      const error = await rejection(transport.publish(batch as OutgoingMessage[]));
      expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid)).toBe(true);
      expect((error as Error).message).toMatch(expected);
    }
    await clock.advance(100);
    expect(handler).not.toHaveBeenCalled();
    expect(transport.depth("q")).toBe(0);
  });

  it("validates dead-letter admin input and refuses it after close()", async () => {
    create();
    for (const call of [
      () => transport.deadLetters.list({ limit: 0 }),
      () => transport.deadLetters.replay({} as { queue: string }),
      () => transport.deadLetters.purge({ ids: [1 as unknown as string] }),
    ]) {
      expect(isMessagingError(await rejection(call()), MessagingErrorCode.ConfigInvalid)).toBe(true);
    }
    await transport.close();
    expect(isMessagingError(await rejection(transport.deadLetters.list()), MessagingErrorCode.Closed)).toBe(
      true,
    );
  });

  it("cancels its delay timers on close()", async () => {
    create();
    await transport.subscribe({ queue: "q", topics: ["a"], prefetch: 1, handler: (d) => d.ack() });
    await transport.publish([message("a", { delayMs: 60_000 })]);
    expect(clock.pendingTimers).toBe(1);
    await transport.close();
    expect(clock.pendingTimers).toBe(0);
  });
});
