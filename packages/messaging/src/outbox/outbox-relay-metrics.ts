import { Counter, Gauge, type Registry } from "prom-client";

function metric<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

/**
 * The relay's Prometheus metrics, labelled with the outbox `table`. Several relays may share a
 * registry: the families are created once, and `flotilla_outbox_leader` counts the relays of this
 * process that hold the lease (inc and dec, never set).
 *
 * | metric | type |
 * | --- | --- |
 * | `flotilla_outbox_depth` | gauge: unsent rows |
 * | `flotilla_outbox_oldest_unsent_age_seconds` | gauge: age of the oldest unsent row |
 * | `flotilla_outbox_published_total` | counter |
 * | `flotilla_outbox_publish_failures_total` | counter: failed publish calls |
 * | `flotilla_outbox_leader` | gauge: 1 while this process's relay holds the lease |
 */
export class OutboxRelayMetrics {
  readonly #depth: Gauge<"table">;
  readonly #age: Gauge<"table">;
  readonly #published: Counter<"table">;
  readonly #failures: Counter<"table">;
  readonly #leader: Gauge<"table">;
  readonly #labels: { table: string };

  constructor(registry: Registry, table: string) {
    const registers = [registry];
    const labelNames = ["table"] as const;
    this.#labels = { table };
    this.#depth = metric(
      registry,
      "flotilla_outbox_depth",
      () => new Gauge({ name: "flotilla_outbox_depth", help: "Unsent outbox rows.", labelNames, registers }),
    );
    this.#age = metric(
      registry,
      "flotilla_outbox_oldest_unsent_age_seconds",
      () =>
        new Gauge({
          name: "flotilla_outbox_oldest_unsent_age_seconds",
          help: "Age of the oldest unsent outbox row.",
          labelNames,
          registers,
        }),
    );
    this.#published = metric(
      registry,
      "flotilla_outbox_published_total",
      () =>
        new Counter({
          name: "flotilla_outbox_published_total",
          help: "Outbox rows published.",
          labelNames,
          registers,
        }),
    );
    this.#failures = metric(
      registry,
      "flotilla_outbox_publish_failures_total",
      () =>
        new Counter({
          name: "flotilla_outbox_publish_failures_total",
          help: "Outbox publish calls that failed.",
          labelNames,
          registers,
        }),
    );
    this.#leader = metric(
      registry,
      "flotilla_outbox_leader",
      () =>
        new Gauge({
          name: "flotilla_outbox_leader",
          help: "1 while a relay of this process holds the outbox lease.",
          labelNames,
          registers,
        }),
    );
    this.#leader.inc(this.#labels, 0);
  }

  backlog(depth: number, oldestUnsentAgeMs: number): void {
    this.#depth.set(this.#labels, depth);
    this.#age.set(this.#labels, oldestUnsentAgeMs / 1000);
  }

  published(count: number): void {
    this.#published.inc(this.#labels, count);
  }

  failed(): void {
    this.#failures.inc(this.#labels);
  }

  leader(held: boolean): void {
    if (held) this.#leader.inc(this.#labels);
    else this.#leader.dec(this.#labels);
  }
}
