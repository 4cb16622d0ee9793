// A RabbitMQ outage of 20 s in the middle of steady production (through a TCP proxy; the shared
// broker keeps running): the outbox holds the events back, the relay's backlog gauges show it, and
// once the broker is back every committed event is applied exactly once and the backlog drains.
import { fullJitterBackoff } from "@flotilla/resilience";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consumer } from "../src/consumer/consumer.js";
import { inbox } from "../src/inbox/inbox.js";
import { type Outbox, outbox } from "../src/outbox/outbox.js";
import { outboxRelay } from "../src/outbox/outbox-relay.js";
import { E2eBroker, e2eNamespace, e2eServers } from "./fixtures/e2e-brokers.js";
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
  ProducedEvents,
} from "./fixtures/e2e-orders.js";
import { runAll } from "./fixtures/e2e-teardown.js";
import { type TcpProxy, tcpProxy } from "./fixtures/tcp-proxy.js";
import { delay, waitFor } from "./fixtures/wait-for.js";

/** Production: one order of ten events every 100 ms (100 events/s) for 30 s. */
const tickMs = 100;
const eventsPerTick = 10;
const ticks = 300;
/** The broker is unreachable from tick 50 (5 s) to tick 250 (25 s). */
const outageFrom = 50;
const outageTo = 250;
const keys = 10;

describe("broker outage over rabbitmq", () => {
  let namespace: string;
  let broker: E2eBroker;
  let proxy: TcpProxy;
  let ordersPool: pg.Pool;
  let billingPool: pg.Pool;
  let box: Outbox;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    namespace = e2eNamespace();
    broker = new E2eBroker("rabbitmq", namespace);
    proxy = await tcpProxy(e2eServers.rabbitmq);
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
      () => proxy.close(),
      () => dropShop(ordersPool, namespace),
      () => ordersPool.end(),
      () => billingPool.end(),
    ]);
  });

  it("loses nothing, applies nothing twice, and the backlog gauges rise and fall back to 0", async () => {
    const transport = new ObservedTransport(await broker.transport(proxy));
    const billingRegistry = new Registry();
    const billing = consumer({
      name: `${namespace}.billing`,
      transport,
      db: billingPool,
      inbox: inbox({ schema: namespace }),
      handlers: ledgerHandlers(namespace),
      topics: ["orders.*"],
      prefetch: 128,
      retry: { backoff: () => 50 },
      registry: billingRegistry,
    });
    cleanups.push(() => billing.close());
    await billing.start();

    const registry = new Registry();
    const relay = outboxRelay({
      pool: ordersPool,
      outbox: box,
      transport: await broker.transport(proxy, { publishTimeout: "1s" }),
      registry,
      pollInterval: "250ms",
      backoff: fullJitterBackoff({ initialDelay: 100, maxDelay: 1_000 }),
    });
    cleanups.push(() => relay.stop());
    relay.start();

    // The registry is this relay's alone: its one series of each gauge, whatever the label says.
    const depth = () => metricValue(registry, "flotilla_outbox_depth");
    const age = () => metricValue(registry, "flotilla_outbox_oldest_unsent_age_seconds");
    const produced = new ProducedEvents();
    const seqs = new Map<string, number>();
    let peakDepth = 0;
    let peakAge = 0;
    const started = performance.now();
    for (let tick = 0; tick < ticks; tick++) {
      if (tick === outageFrom) {
        expect(proxy.connections, "the relay's and the consumer's connections").toBeGreaterThanOrEqual(2);
        await proxy.stop();
      }
      if (tick === outageTo) await proxy.start();
      if (tick > outageFrom && tick < outageTo) {
        peakDepth = Math.max(peakDepth, await depth());
        peakAge = Math.max(peakAge, await age());
      }
      const key = `k${tick % keys}`;
      const nextSeq = () => {
        const seq = (seqs.get(key) ?? 0) + 1;
        seqs.set(key, seq);
        return seq;
      };
      const order = { id: `o-${tick}`, key, lines: eventsPerTick - 1 };
      produced.add(await commitOrder(ordersPool, box, namespace, order, nextSeq));
      // Pacing, not synchronisation: keeps production at a steady rate whatever a commit takes.
      await delay(Math.max(0, started + (tick + 1) * tickMs - performance.now()));
    }

    // 20 s without a broker at 100 events/s: thousands waiting, the oldest for many seconds.
    expect(peakDepth).toBeGreaterThan(1_000);
    expect(peakAge).toBeGreaterThan(10);
    await transport.waitForAcks(
      produced.committed.map((envelope) => envelope.id),
      { what: `all ${produced.committed.length} events at the consumer`, timeout: 45_000 },
    );
    await waitFor(async () => (await depth()) === 0 && (await age()) === 0, {
      what: "the backlog gauges back at 0",
      timeout: 10_000,
    });

    expect(produced.committed).toHaveLength(ticks * eventsPerTick);
    expectExactlyOnce(await ledger(billingPool, namespace), produced);
    expect(await metricValue(registry, "flotilla_outbox_publish_failures_total")).toBeGreaterThan(0);
    const acks = transport.settled.items.filter((s) => s.kind === "ack").length;
    const consumed = "flotilla_messages_consumed_total";
    expect(await metricValue(billingRegistry, consumed, { outcome: "duplicate" })).toBe(
      acks - produced.committed.length,
    );
  }, 90_000);
});
