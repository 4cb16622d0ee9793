import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isMessagingError, MessagingErrorCode } from "../src/errors/messaging-error.js";
import type { Delivery, OutgoingMessage, Transport } from "../src/transport/transport.js";
import { type PostgresTransport, postgresTransport } from "../src/transports/postgres/postgres-transport.js";
import type { PostgresTransportOptions } from "../src/transports/postgres/postgres-transport-options.js";
import { type TcpProxy, tcpProxy } from "./fixtures/tcp-proxy.js";
import { collector, delay, waitFor, withTimeout } from "./fixtures/wait-for.js";

const server = { host: "127.0.0.1", port: 5432 };
const url = (endpoint: { host: string; port: number } = server) =>
  `postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`;
const admin = new pg.Pool({ connectionString: url(), max: 3 });

const schemas: string[] = [];
const transports: Transport[] = [];
const proxies: TcpProxy[] = [];

function newSchema(): string {
  const schema = `flt_pgt_${randomBytes(5).toString("hex")}`;
  schemas.push(schema);
  return schema;
}

async function open(
  schema: string,
  options: Omit<PostgresTransportOptions, "schema" | "url"> & { url?: string } = {},
): Promise<PostgresTransport> {
  const transport = await postgresTransport({ url: url(), schema, pollInterval: 200, ...options });
  transports.push(transport);
  return transport;
}

async function proxy(): Promise<TcpProxy> {
  const created = await tcpProxy(server);
  proxies.push(created);
  return created;
}

function message(topic: string, init: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: randomUUID(), topic, body: new TextEncoder().encode("{}"), ...init };
}

async function rowCount(schema: string, table: string): Promise<number> {
  const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".${table}`);
  return rows[0].n;
}

afterEach(async () => {
  for (const p of proxies) await p.start();
  for (const transport of transports.splice(0))
    await withTimeout(transport.close(), 15_000, "transport.close()");
  for (const p of proxies.splice(0)) await p.close();
  for (const schema of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});
afterAll(() => admin.end());

describe("postgres transport: partition keys", () => {
  it("hands each key to one handler at a time across two transports, in publish order", async () => {
    const schema = newSchema();
    const [a, b] = [await open(schema), await open(schema)];
    const seen = collector<{ key: string; id: string; via: string }>();
    const running = new Set<string>();
    let overlaps = 0;
    const handler = (via: string) => async (delivery: Delivery) => {
      const key = delivery.message.key!;
      if (running.has(key)) overlaps += 1;
      running.add(key);
      // Real work takes time; without it one transport might drain everything alone.
      await delay(1);
      running.delete(key);
      seen.push({ key, id: delivery.message.id, via });
      await delivery.ack();
    };
    // More keys than one subscription's prefetch, so that neither can hold every key's head, and
    // fewer than both together, so that without the database's per-key claim they would share a key.
    await a.subscribe({ queue: "shared", topics: ["ledger.*"], prefetch: 2, handler: handler("a") });
    await b.subscribe({ queue: "shared", topics: ["ledger.*"], prefetch: 2, handler: handler("b") });
    const keys = ["k0", "k1", "k2"];
    const messages = Array.from({ length: 120 }, (_, index) =>
      message("ledger.entry", { key: keys[index % keys.length]! }),
    );
    for (let start = 0; start < messages.length; start += 30)
      await a.publish(messages.slice(start, start + 30));

    await seen.waitForCount(messages.length, { what: "120 keyed deliveries", timeout: 30_000 });
    for (const key of keys) {
      expect(
        seen.items.filter((item) => item.key === key).map((item) => item.id),
        `order of ${key}`,
      ).toEqual(messages.filter((m) => m.key === key).map((m) => m.id));
    }
    expect(overlaps, "handlers of one key running at once").toBe(0);
    expect(new Set(seen.items.map((item) => item.via)), "both transports consumed").toEqual(
      new Set(["a", "b"]),
    );
  }, 60_000);

  it("holds a key's later messages while its head waits for a retry", async () => {
    const schema = newSchema();
    const transport = await open(schema);
    const seen = collector<{ id: string; attempt: number }>();
    await transport.subscribe({
      queue: "held",
      topics: ["k.*"],
      prefetch: 4,
      handler: async (delivery) => {
        seen.push({ id: delivery.message.id, attempt: delivery.attempt });
        if (delivery.attempt === 1 && delivery.message.topic === "k.first")
          await delivery.retry(300, "later");
        else await delivery.ack();
      },
    });
    const first = message("k.first", { key: "x" });
    const second = message("k.second", { key: "x" });
    const free = message("k.free");
    await transport.publish([first, second, free]);

    await seen.waitForCount(4, { what: "first twice, then second, and the unkeyed one" });
    const order = seen.items.map(
      (item) =>
        `${item.id === first.id ? "first" : item.id === second.id ? "second" : "free"}#${item.attempt}`,
    );
    expect(order.filter((entry) => !entry.startsWith("free"))).toEqual(["first#1", "first#2", "second#1"]);
    expect(order).toContain("free#1");
  });
});

describe("postgres transport: visibility", () => {
  it("delivers again, after the visibility timeout, a message whose consumer vanished", async () => {
    const schema = newSchema();
    const cut = await proxy();
    const doomed = await open(schema, { url: url(cut), visibilityTimeout: 1_000, heartbeatInterval: 300 });
    const first = collector<Delivery>();
    await doomed.subscribe({
      queue: "jobs",
      topics: ["jobs.run"],
      prefetch: 1,
      handler: async (delivery) => {
        first.push(delivery);
      },
    });
    await doomed.publish([message("jobs.run")]);
    await first.waitForCount(1, { what: "the first delivery" });
    // The consumer's database connections die; its claim is neither settled nor extended any more.
    const vanishedAt = performance.now();
    await cut.stop();

    const survivor = await open(schema, { visibilityTimeout: 1_000 });
    const again = collector<{ attempt: number; at: number; id: string }>();
    await survivor.subscribe({
      queue: "jobs",
      topics: ["jobs.run"],
      prefetch: 1,
      handler: async (delivery) => {
        again.push({ attempt: delivery.attempt, at: performance.now(), id: delivery.message.id });
        await delivery.ack();
      },
    });
    const [redelivery] = await again.waitForCount(1, { what: "the redelivery", timeout: 15_000 });
    expect(redelivery!.id).toBe(first.items[0]!.message.id);
    expect(redelivery!.attempt).toBe(2);
    // Claimed at most a poll before the cut, so hidden for nearly all of the 1 s timeout after it.
    expect(redelivery!.at - vanishedAt).toBeGreaterThanOrEqual(500);
  });

  it("gives an unsettled message back at once when its subscription closes", async () => {
    const schema = newSchema();
    const transport = await open(schema, { visibilityTimeout: 60_000 });
    const first = collector<Delivery>();
    const subscription = await transport.subscribe({
      queue: "jobs",
      topics: ["jobs.run"],
      prefetch: 1,
      handler: async (delivery) => {
        first.push(delivery);
      },
    });
    await transport.publish([message("jobs.run")]);
    await first.waitForCount(1, { what: "the first delivery" });
    await subscription.close();

    const again = collector<number>();
    await transport.subscribe({
      queue: "jobs",
      topics: ["jobs.run"],
      prefetch: 1,
      handler: async (delivery) => {
        again.push(delivery.attempt);
        await delivery.ack();
      },
    });
    expect(await again.waitForCount(1, { what: "the redelivery long before the 60 s timeout" })).toEqual([2]);
  });

  it("keeps a long handler's message hidden with heartbeats", async () => {
    const schema = newSchema();
    const options = { visibilityTimeout: 300, heartbeatInterval: 100 };
    const [slow, rival] = [await open(schema, options), await open(schema, options)];
    const deliveries = collector<{ via: string; attempt: number }>();
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    await slow.subscribe({
      queue: "long",
      topics: ["long.job"],
      prefetch: 1,
      handler: async (delivery) => {
        deliveries.push({ via: "slow", attempt: delivery.attempt });
        // Four visibility timeouts of work.
        await delay(1_200);
        await delivery.ack();
        finish();
      },
    });
    await slow.publish([message("long.job")]);
    await deliveries.waitForCount(1, { what: "the slow handler to start" });
    await rival.subscribe({
      queue: "long",
      topics: ["long.job"],
      prefetch: 1,
      handler: async (delivery) => {
        deliveries.push({ via: "rival", attempt: delivery.attempt });
        await delivery.ack();
      },
    });
    await withTimeout(finished, 10_000, "the slow handler");
    expect(deliveries.items).toEqual([{ via: "slow", attempt: 1 }]);
    expect(await rowCount(schema, "messages")).toBe(0);
  });
});

describe("postgres transport: wake-ups", () => {
  it("wakes a consumer by NOTIFY without waiting for the poll interval", async () => {
    const schema = newSchema();
    const transport = await open(schema, { pollInterval: 60_000 });
    const seen = collector<string>();
    await transport.subscribe({
      queue: "instant",
      topics: ["wake.*"],
      prefetch: 4,
      handler: async (delivery) => {
        seen.push(delivery.message.id);
        await delivery.ack();
      },
    });
    // Lets the first claim finish, so that only a notification can bring the next one (were it still
    // running, the test would pass without one, never fail).
    await delay(300);
    const sent = message("wake.up");
    await transport.publish([sent]);
    expect(await seen.waitForCount(1, { what: "the notified delivery", timeout: 5_000 })).toEqual([sent.id]);
  });

  it("delivers a delayed message at its time by NOTIFY, not by polling", async () => {
    const schema = newSchema();
    const transport = await open(schema, { pollInterval: 60_000 });
    const seen = collector<number>();
    await transport.subscribe({
      queue: "later",
      topics: ["wake.*"],
      prefetch: 4,
      handler: async (delivery) => {
        seen.push(performance.now());
        await delivery.ack();
      },
    });
    await delay(300);
    const publishedAt = performance.now();
    await transport.publish([message("wake.later", { delayMs: 500 })]);
    const [at] = await seen.waitForCount(1, { what: "the delayed delivery", timeout: 5_000 });
    expect(at! - publishedAt).toBeGreaterThanOrEqual(450);
  });

  it("listens again after the LISTEN connection is cut", async () => {
    const schema = newSchema();
    const cut = await proxy();
    const transport = await open(schema, { url: url(cut), pollInterval: 60_000 });
    const seen = collector<string>();
    await transport.subscribe({
      queue: "relisten",
      topics: ["wake.*"],
      prefetch: 4,
      handler: async (delivery) => {
        seen.push(delivery.message.id);
        await delivery.ack();
      },
    });
    const listeners = async () => {
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'idle'",
        [`LISTEN "${schema}"`],
      );
      return rows.map((row) => row.pid);
    };
    await waitFor(async () => (await listeners()).length === 1, { what: "the LISTEN connection" });
    const [before] = await listeners();
    cut.cut();
    await waitFor(
      async () => {
        const now = await listeners();
        return now.length === 1 && now[0] !== before;
      },
      { what: "a new LISTEN connection", timeout: 15_000 },
    );
    // Published from another transport, so that only the re-established LISTEN can wake it.
    const publisher = await open(schema);
    const sent = message("wake.again");
    await publisher.publish([sent]);
    expect(await seen.waitForCount(1, { what: "a delivery after re-LISTEN", timeout: 15_000 })).toEqual([
      sent.id,
    ]);
  }, 30_000);
});

describe("postgres transport: dead letters", () => {
  it("moves a dead letter out of the queue in one step, and replays it back the same way", async () => {
    const schema = newSchema();
    const transport = await open(schema);
    const settled = collector<{ id: string; attempt: number; how: string }>();
    let refuse = true;
    await transport.subscribe({
      queue: "dlq",
      topics: ["dlq.*"],
      prefetch: 2,
      handler: async (delivery) => {
        const how = refuse ? "deadLetter" : "ack";
        if (refuse) await delivery.deadLetter({ code: "permanent", message: "no such order" });
        else await delivery.ack();
        settled.push({ id: delivery.message.id, attempt: delivery.attempt, how });
      },
    });
    const doomed = message("dlq.order", { key: "o-1", headers: { "x-tenant": "acme" } });
    await transport.publish([doomed]);
    await settled.waitForCount(1, { what: "the dead-lettering" });

    expect(await rowCount(schema, "messages")).toBe(0);
    const { rows } = await admin.query(
      `SELECT queue, message_id, key, headers, attempts, reason_code, reason_message FROM "${schema}".dead_letters`,
    );
    expect(rows).toEqual([
      {
        queue: "dlq",
        message_id: doomed.id,
        key: "o-1",
        headers: { "x-tenant": "acme" },
        attempts: 1,
        reason_code: "permanent",
        reason_message: "no such order",
      },
    ]);

    refuse = false;
    const [letter] = await transport.deadLetters.list({ queue: "dlq" });
    expect(await transport.deadLetters.replay({ ids: [letter!.id] })).toBe(1);
    expect(await rowCount(schema, "dead_letters")).toBe(0);
    await settled.waitForCount(2, { what: "the replayed delivery" });
    expect(settled.items[1]).toEqual({ id: doomed.id, attempt: 1, how: "ack" });
    expect(await transport.deadLetters.replay({ ids: [letter!.id] }), "replaying twice").toBe(0);
  });

  it("rejects a bad selection with FLT_MESSAGING_CONFIG_INVALID", async () => {
    const transport = await open(newSchema());
    await expect(transport.deadLetters.replay({} as never)).rejects.toMatchObject({
      code: MessagingErrorCode.ConfigInvalid,
    });
    await expect(transport.deadLetters.list({ limit: 0 })).rejects.toMatchObject({
      code: MessagingErrorCode.ConfigInvalid,
      message: expect.stringContaining("limit"),
    });
  });
});

describe("postgres transport: installation and options", () => {
  it("installs the schema once when several transports start together", async () => {
    const schema = newSchema();
    const started = await Promise.all(Array.from({ length: 6 }, () => open(schema)));
    expect(started).toHaveLength(6);
    const { rows } = await admin.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    );
    expect(rows.map((row) => row.table_name)).toEqual(["dead_letters", "messages", "subscriptions"]);
  });

  it("works on a pool the caller owns and leaves it open", async () => {
    const pool = new pg.Pool({ connectionString: url(), max: 3 });
    try {
      const transport = await postgresTransport({ pool, schema: newSchema() });
      const seen = collector<string>();
      await transport.subscribe({
        queue: "own",
        topics: ["own.x"],
        prefetch: 1,
        handler: async (delivery) => {
          seen.push(delivery.message.id);
          await delivery.ack();
        },
      });
      await transport.publish([message("own.x")]);
      await seen.waitForCount(1, { what: "a delivery on the caller's pool" });
      await transport.close();
      const { rows } = await pool.query("SELECT 1 AS one");
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it.each([
    ["a schema that is not a plain identifier", { url: url(), schema: "Bad-Name" }, "schema"],
    ["both url and pool", { url: url(), pool: admin }, "url"],
    ["neither url nor pool", {}, "url"],
    ["a negative pollInterval", { url: url(), pollInterval: -1 }, "pollInterval"],
    [
      "a visibilityTimeout that is no duration",
      { url: url(), visibilityTimeout: "soon" },
      "visibilityTimeout",
    ],
    [
      "a heartbeatInterval as long as the visibilityTimeout",
      { url: url(), visibilityTimeout: 1_000, heartbeatInterval: 1_000 },
      "heartbeatInterval",
    ],
    ["a NaN retryDelayOnThrow", { url: url(), retryDelayOnThrow: Number.NaN }, "retryDelayOnThrow"],
    ["a logger without warn()", { url: url(), logger: { info() {} } }, "logger"],
    ["a clock without now()", { url: url(), clock: {} }, "clock"],
    ["a misspelt option", { url: url(), polInterval: 10 }, "polInterval"],
  ])("rejects %s (naming %s)", async (_, options, name) => {
    let error: unknown;
    try {
      await postgresTransport(options as PostgresTransportOptions);
    } catch (caught) {
      error = caught;
    }
    expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid)).toBe(true);
    expect((error as Error).message).toContain(`${name}:`);
  });

  it("rejects start with FLT_MESSAGING_TRANSPORT_UNAVAILABLE when the database is away", async () => {
    const away = await proxy();
    await away.stop();
    await expect(postgresTransport({ url: url(away), schema: newSchema() })).rejects.toMatchObject({
      code: MessagingErrorCode.TransportUnavailable,
      cause: expect.anything(),
    });
  });

  it("rejects a publish during an outage with the cause attached, then publishes and consumes again", async () => {
    const schema = newSchema();
    const outage = await proxy();
    const transport = await open(schema, { url: url(outage) });
    const seen = collector<string>();
    await transport.subscribe({
      queue: "kept",
      topics: ["out.*"],
      prefetch: 1,
      handler: async (delivery) => {
        seen.push(delivery.message.topic);
        await delivery.ack();
      },
    });
    await outage.stop();
    const failure = await withTimeout(
      transport.publish([message("out.lost")]).catch((error: unknown) => error),
      12_000,
      "publish during the outage",
    );
    expect(failure).toMatchObject({
      code: MessagingErrorCode.TransportUnavailable,
      cause: expect.anything(),
    });
    await outage.start();
    await transport.publish([message("out.kept")]);
    await seen.waitForCount(1, { what: "the message published after the outage", timeout: 15_000 });
    expect(seen.items).toEqual(["out.kept"]);
  }, 30_000);
});
