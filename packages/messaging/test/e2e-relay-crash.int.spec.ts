// The relay SIGKILLed on a real broker at the worst moment — a batch confirmed by the broker but
// not yet marked sent — then replaced by a new relay: the consumer with the inbox still applies
// every committed event exactly once, skipping the copies the new relay publishes again.
import type pg from "pg";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consumer } from "../src/consumer/consumer.js";
import { inbox } from "../src/inbox/inbox.js";
import { type Outbox, outbox } from "../src/outbox/outbox.js";
import { outboxRelay } from "../src/outbox/outbox-relay.js";
import { E2eBroker, type E2eBrokerKind, e2eNamespace } from "./fixtures/e2e-brokers.js";
import { metricValue } from "./fixtures/e2e-metrics.js";
import { ObservedTransport } from "./fixtures/e2e-observed-transport.js";
import {
  commitBulk,
  dropShop,
  e2ePool,
  expectExactlyOnce,
  installShop,
  ledger,
  ledgerHandlers,
} from "./fixtures/e2e-orders.js";
import { spawnRelayChild } from "./fixtures/e2e-relay-child.js";
import { runAll } from "./fixtures/e2e-teardown.js";

const kinds: readonly E2eBrokerKind[] = ["rabbitmq", "postgres"];
const total = 2_000;
const batchSize = 50;
/** The batch the child stalls on, confirmed but never marked: 250 rows are marked before it. */
const stallAfter = 6;

describe.each(kinds)("relay crash over %s", (kind) => {
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
    await runAll([
      ...cleanups.splice(0).reverse(),
      () => broker.cleanup(),
      () => dropShop(ordersPool, namespace),
      () => ordersPool.end(),
      () => billingPool.end(),
    ]);
  });

  it("applies each of 2,000 committed events exactly once after the relay is killed and replaced", async () => {
    const produced = await commitBulk(ordersPool, box, { count: total, perTransaction: 100, keys: 20 });
    const ids = produced.committed.map((envelope) => envelope.id);

    const transport = new ObservedTransport(await broker.transport());
    const registry = new Registry();
    const billing = consumer({
      name: `${namespace}.billing`,
      transport,
      db: billingPool,
      inbox: inbox({ schema: namespace }),
      handlers: ledgerHandlers(namespace),
      topics: ["orders.*"],
      prefetch: 128,
      retry: { backoff: () => 50 },
      registry,
    });
    cleanups.push(() => billing.close());
    await billing.start();

    const child = spawnRelayChild({ kind, namespace, batchSize, stallAfter });
    cleanups.push(() => child.kill());
    await child.waitForLine("stalled");
    // Everything the broker confirmed reaches the consumer before the kill, stalled batch included.
    await transport.waitForAcks(ids.slice(0, stallAfter * batchSize), {
      what: `the first ${stallAfter} batches at the consumer`,
    });
    await child.kill();

    const unsent = async () =>
      (
        await ordersPool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${box.table} WHERE sent_at IS NULL`,
        )
      ).rows[0]!.n;
    expect(await unsent()).toBe(total - (stallAfter - 1) * batchSize);
    expect(transport.ackCounts().size).toBeLessThan(total);

    const relay = outboxRelay({
      pool: ordersPool,
      outbox: box,
      transport: await broker.transport(),
      leaseRetryInterval: "100ms",
    });
    cleanups.push(() => relay.stop());
    relay.start();
    await transport.waitForAcks(ids, { what: `all ${total} events at the consumer`, timeout: 45_000 });

    expectExactlyOnce(await ledger(billingPool, namespace), produced);
    expect(await unsent()).toBe(0);
    const acks = transport.settled.items.filter((s) => s.kind === "ack").length;
    const consumed = "flotilla_messages_consumed_total";
    expect(await metricValue(registry, consumed, { outcome: "acked" })).toBe(total);
    const duplicates = await metricValue(registry, consumed, { outcome: "duplicate" });
    // The stalled batch went out twice: its second copies must have been skipped by the inbox.
    expect(duplicates).toBeGreaterThanOrEqual(batchSize);
    expect(duplicates).toBe(acks - total);
  }, 90_000);
});
