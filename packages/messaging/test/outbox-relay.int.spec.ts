// The outbox and its relay against the shared PostgreSQL, each test in a schema of its own and
// with a RecordingTransport: rollback, out-of-order commits, many concurrent producers, partial
// confirms, a broker outage (metrics rise and fall), NOTIFY wake-ups, delays, clean-up, and the
// lease moving between two relays.
import type { PoolClient } from "pg";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent } from "../src/envelope/define-event.js";
import { decodeEnvelope } from "../src/envelope/envelope-codec.js";
import type { MessagingLogger as OutboxLogger } from "../src/messaging-logger.js";
import { type Outbox, outbox } from "../src/outbox/outbox.js";
import { type OutboxRelay, outboxRelay } from "../src/outbox/outbox-relay.js";
import type { OutboxRelayOptions } from "../src/outbox/outbox-relay-options.js";
import { RecordingTransport } from "./fixtures/outbox-recording-transport.js";
import { dropSchema, nextEvent, testPool, testSchema } from "./fixtures/outbox-test-db.js";

const itemAdded = defineEvent({
  type: "cart.item-added",
  schema: z.object({ cart: z.string(), seq: z.number().int() }),
});

describe("outbox relay", () => {
  const pool = testPool(20);
  let schema: string;
  let box: Outbox;
  const relays: OutboxRelay[] = [];
  const clients: PoolClient[] = [];

  function relay(transport: RecordingTransport, options: Partial<OutboxRelayOptions> = {}): OutboxRelay {
    const created = outboxRelay({
      pool,
      outbox: box,
      transport,
      pollInterval: "100ms",
      leaseRetryInterval: "100ms",
      backoff: () => 20,
      ...options,
    });
    relays.push(created);
    return created;
  }

  /** Commits `count` rows for `cart` in one transaction; returns their ids. */
  async function commit(cart: string, count: number, from = 0): Promise<string[]> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const envelopes = await box.publishMany(
        client,
        Array.from({ length: count }, (_, i) => ({
          event: itemAdded,
          data: { cart, seq: from + i },
          options: { key: cart },
        })),
      );
      await client.query("COMMIT");
      return envelopes.map((e) => e.id);
    } finally {
      client.release();
    }
  }

  /** A transaction left open: it has published one row; the caller commits or rolls back. */
  async function openTransaction(cart: string): Promise<{ client: PoolClient; id: string }> {
    const client = await pool.connect();
    clients.push(client);
    await client.query("BEGIN");
    const envelope = await box.publish(client, itemAdded, { cart, seq: 0 }, { key: cart });
    return { client, id: envelope.id };
  }

  async function unsentIds(): Promise<string[]> {
    const { rows } = await pool.query<{ id: string }>(`SELECT id FROM ${box.table} WHERE sent_at IS NULL`);
    return rows.map((r) => r.id);
  }

  const drainedWith = (r: OutboxRelay, transport: RecordingTransport, count: number) =>
    nextEvent(
      r.events,
      (e) => e.type === "drained" && transport.published.length >= count,
      15_000,
      `drain of ${count}`,
    );

  beforeEach(async () => {
    schema = testSchema();
    box = outbox({ source: "/services/cart", schema });
    await box.install(pool);
  });

  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop();
    for (const client of clients.splice(0)) {
      await client.query("ROLLBACK").catch(() => {});
      client.release();
    }
    await dropSchema(pool, schema);
  });

  afterAll(async () => {
    await pool.end();
  });

  it("installs idempotently when several instances start at once", async () => {
    await Promise.all(Array.from({ length: 6 }, () => box.install(pool)));
    const { rows } = await pool.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'outbox' ORDER BY ordinal_position",
      [schema],
    );
    expect(rows.map((r) => r.column_name)).toEqual([
      "id",
      "aggregatetype",
      "aggregateid",
      "type",
      "payload",
      "topic",
      "headers",
      "txid",
      "position",
      "created_at",
      "available_at",
      "sent_at",
      "attempts",
      "last_error",
    ]);
  });

  it("never publishes a rolled-back transaction's message", async () => {
    const rolledBack = await openTransaction("gone");
    await rolledBack.client.query("ROLLBACK");
    const [kept] = await commit("kept", 1);
    const transport = new RecordingTransport();
    const r = relay(transport);
    const drained = drainedWith(r, transport, 1);
    r.start();
    await drained;
    expect(transport.ids).toEqual([kept]);
    expect(await unsentIds()).toEqual([]);
  });

  it("holds back a row committed while an earlier transaction is open, then publishes both in commit-safe order", async () => {
    const t1 = await openTransaction("k");
    const [t2] = await commit("k", 1, 1);
    const transport = new RecordingTransport();
    const r = relay(transport);
    const firstDrain = nextEvent(r.events, (e) => e.type === "drained", 10_000, "drain");
    r.start();
    await firstDrain;
    expect(transport.ids).toEqual([]);
    expect(r.status().depth).toBe(1);

    const both = drainedWith(r, transport, 2);
    await t1.client.query("COMMIT");
    await both;
    expect(transport.ids).toEqual([t1.id, t2]);
  });

  it("loses nothing when 8 producers commit 1,600 rows out of order while the relay runs", async () => {
    const transport = new RecordingTransport();
    const r = relay(transport, { batchSize: 64 });
    r.start();
    const producers = Array.from({ length: 8 }, async (_, p) => {
      const committed: string[] = [];
      for (let seq = 0; seq < 200; seq++) {
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          const envelope = await box.publish(client, itemAdded, { cart: `p${p}`, seq }, { key: `p${p}` });
          // Work of random length between the insert and the commit reorders commits against xids.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
          await client.query("COMMIT");
          committed.push(envelope.id);
        } finally {
          client.release();
        }
      }
      return committed;
    });
    const committed = (await Promise.all(producers)).flat();
    await drainedWith(r, transport, 1_600);

    expect(committed).toHaveLength(1_600);
    expect(transport.published).toHaveLength(1_600);
    expect(new Set(transport.ids)).toEqual(new Set(committed));
    for (let p = 0; p < 8; p++) {
      const seqs = transport.published
        .filter((m) => m.key === `p${p}`)
        .map((m) => (decodeEnvelope(m.body).data as { seq: number }).seq);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }
    expect(r.status().published).toBe(1_600);
  });

  it("marks only the confirmed prefix after a PublishFailedError and publishes the rest once, in order", async () => {
    const ids = await commit("c", 10);
    const transport = new RecordingTransport();
    transport.confirmOnly(3);
    const r = relay(transport);
    const failed = nextEvent(r.events, (e) => e.type === "publish-failed");
    const drained = drainedWith(r, transport, 10);
    r.start();
    expect(await failed).toMatchObject({ confirmed: 3, attempt: 1 });
    await drained;
    expect(transport.ids).toEqual(ids);
    const { rows } = await pool.query<{ id: string; attempts: number; last_error: string | null }>(
      `SELECT id, attempts, last_error FROM ${box.table} ORDER BY position`,
    );
    expect(rows.map((row) => row.attempts)).toEqual([1, 1, 1, 2, 2, 2, 2, 2, 2, 2]);
    expect(rows[0]?.last_error).toBeNull();
    expect(rows[3]?.last_error).toMatch(/confirmed 3 of 10/);
  });

  it("keeps every row through a broker outage, warns once, and the lag metrics rise and fall", async () => {
    const registry = new Registry();
    const warnings: string[] = [];
    const infos: string[] = [];
    const logger: OutboxLogger = {
      debug: () => {},
      info: (_fields, message) => infos.push(message),
      warn: (_fields, message) => warnings.push(message),
      error: (_fields, message) => warnings.push(message),
    };
    const transport = new RecordingTransport();
    transport.outage(true);
    const ids = await commit("o", 50);
    const r = relay(transport, { registry, logger, pollInterval: "50ms" });
    let failures = 0;
    const fifthFailure = nextEvent(r.events, (e) => e.type === "publish-failed" && ++failures >= 5);
    r.start();
    await fifthFailure;
    const during = await metricValues(registry);
    expect(during.flotilla_outbox_depth).toBe(50);
    expect(during.flotilla_outbox_oldest_unsent_age_seconds).toBeGreaterThan(0);
    expect(during.flotilla_outbox_publish_failures_total).toBeGreaterThanOrEqual(5);
    expect(during.flotilla_outbox_leader).toBe(1);
    expect(r.status()).toMatchObject({
      leader: true,
      depth: 50,
      lastError: expect.stringMatching(/broker down/),
    });
    expect(await unsentIds()).toHaveLength(50);

    const drained = drainedWith(r, transport, 50);
    transport.outage(false);
    await drained;
    expect(transport.ids).toEqual(ids);
    const after = await metricValues(registry);
    expect(after.flotilla_outbox_depth).toBe(0);
    expect(after.flotilla_outbox_oldest_unsent_age_seconds).toBe(0);
    expect(after.flotilla_outbox_published_total).toBe(50);
    expect(warnings.filter((w) => w.includes("cannot publish"))).toHaveLength(1);
    expect(infos.filter((i) => i.includes("publishing again"))).toHaveLength(1);
    expect(r.status().lastError).toBeUndefined();
  });

  it("wakes on the insert trigger's NOTIFY without waiting for the poll", async () => {
    const transport = new RecordingTransport();
    const r = relay(transport, { pollInterval: "1h" });
    const idle = nextEvent(r.events, (e) => e.type === "drained");
    r.start();
    await idle;
    const published = nextEvent(r.events, (e) => e.type === "published", 5_000, "published after NOTIFY");
    const ids = await commit("n", 2);
    expect((await published).type).toBe("published");
    expect(transport.ids).toEqual(ids);
  });

  it("hands a delayed message to the transport with the delay left", async () => {
    const client = await pool.connect();
    clients.push(client);
    await client.query("BEGIN");
    await box.publish(client, itemAdded, { cart: "d", seq: 0 }, { delay: "30s" });
    await client.query("COMMIT");
    const transport = new RecordingTransport();
    const r = relay(transport);
    const drained = drainedWith(r, transport, 1);
    r.start();
    await drained;
    const delay = transport.published[0]?.delayMs ?? 0;
    expect(delay).toBeGreaterThan(20_000);
    expect(delay).toBeLessThanOrEqual(30_000);
  });

  it("deletes sent rows older than the retention", async () => {
    await commit("r", 5);
    const transport = new RecordingTransport();
    const r = relay(transport, { retention: 0, cleanupInterval: "20ms" });
    const cleaned = nextEvent(r.events, (e) => e.type === "cleaned");
    r.start();
    expect(await cleaned).toEqual({ type: "cleaned", deleted: 5 });
    const { rows } = await pool.query(`SELECT 1 FROM ${box.table}`);
    expect(rows).toHaveLength(0);
    expect(transport.published).toHaveLength(5);
  });

  it("lets one relay lead; when its lease connection is killed the other takes over and nothing is lost", async () => {
    const leadTransport = new RecordingTransport();
    const otherTransport = new RecordingTransport();
    // The leader stands back longer after losing its lease than the other waits between tries.
    const lead = relay(leadTransport, { leaseRetryInterval: "2s" });
    const other = relay(otherTransport, { leaseRetryInterval: "50ms" });
    const leading = nextEvent(lead.events, (e) => e.type === "leader");
    lead.start();
    await leading;
    other.start();
    const before = await commit("l", 20);
    await drainedWith(lead, leadTransport, 20);
    // Two more idle polls of the leader (100 ms each) give the other relay several tries at the lease.
    await nextEvent(lead.events, (e) => e.type === "drained");
    await nextEvent(lead.events, (e) => e.type === "drained");
    expect(other.status().leader).toBe(false);
    expect(otherTransport.published).toHaveLength(0);

    const lost = nextEvent(lead.events, (e) => e.type === "follower", 10_000, "follower event");
    const takeover = nextEvent(other.events, (e) => e.type === "leader", 10_000, "takeover");
    const key = box.sql.leaseKey;
    const { rows } = await pool.query<{ pid: number }>(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      [((key >> 32n) & 0xffffffffn).toString(), (key & 0xffffffffn).toString()],
    );
    expect(rows).toHaveLength(1);
    await pool.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
    await Promise.all([lost, takeover]);
    expect(other.status().leader).toBe(true);

    const after = await commit("l", 20, 20);
    await drainedWith(other, otherTransport, 20);
    const all = new Set([...leadTransport.ids, ...otherTransport.ids]);
    for (const id of [...before, ...after]) expect(all.has(id)).toBe(true);
    expect(await unsentIds()).toEqual([]);

    const back = nextEvent(lead.events, (e) => e.type === "leader");
    await other.stop();
    await back;
  });
});

async function metricValues(registry: Registry): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (const metric of await registry.getMetricsAsJSON()) {
    values[metric.name] = (metric.values as { value: number }[]).reduce((sum, v) => sum + v.value, 0);
  }
  return values;
}
