import { Counter, Histogram, type Registry } from "prom-client";
import type { DeadLetterCode } from "../transport/transport.js";

/** How a delivery ended, the `outcome` label of `flotilla_messages_consumed_total`. */
export type ConsumeOutcome = "acked" | "duplicate" | "retried" | "dead_lettered";

/** The `type` label of messages whose type is not one of the consumer's (bounded cardinality). */
export const unknownTypeLabel = "_unknown";

/**
 * The consumer's Prometheus metrics in a prom-client registry: `flotilla_messages_consumed_total`
 * {consumer, type, outcome}, `flotilla_message_handler_duration_seconds` {consumer, type} and
 * `flotilla_messages_dead_lettered_total` {consumer, code}. Consumers sharing a registry share the
 * metrics (their label `consumer` tells them apart). Without a registry every call does nothing.
 */
export class ConsumerMetrics {
  readonly #consumed: Counter<"consumer" | "type" | "outcome"> | undefined;
  readonly #duration: Histogram<"consumer" | "type"> | undefined;
  readonly #deadLettered: Counter<"consumer" | "code"> | undefined;
  readonly #consumer: string;

  constructor(consumer: string, registry: Registry | undefined) {
    this.#consumer = consumer;
    if (registry === undefined) return;
    this.#consumed = metric(
      registry,
      "flotilla_messages_consumed_total",
      () =>
        new Counter({
          name: "flotilla_messages_consumed_total",
          help: "Messages a consumer settled, by outcome: acked, duplicate, retried, dead_lettered.",
          labelNames: ["consumer", "type", "outcome"],
          registers: [registry],
        }),
    );
    this.#duration = metric(
      registry,
      "flotilla_message_handler_duration_seconds",
      () =>
        new Histogram({
          name: "flotilla_message_handler_duration_seconds",
          help: "Time a consumer's handler ran for one message, successful or not.",
          labelNames: ["consumer", "type"],
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        }),
    );
    this.#deadLettered = metric(
      registry,
      "flotilla_messages_dead_lettered_total",
      () =>
        new Counter({
          name: "flotilla_messages_dead_lettered_total",
          help: "Messages a consumer moved to its dead-letter queue, by reason code.",
          labelNames: ["consumer", "code"],
          registers: [registry],
        }),
    );
  }

  /** Counts one settled delivery. */
  consumed(type: string, outcome: ConsumeOutcome): void {
    this.#consumed?.inc({ consumer: this.#consumer, type, outcome });
  }

  /** Counts one dead letter by its reason (the delivery is counted by {@link consumed} too). */
  deadLettered(code: DeadLetterCode): void {
    this.#deadLettered?.inc({ consumer: this.#consumer, code });
  }

  /** Records one handler run of `seconds`. */
  handled(type: string, seconds: number): void {
    this.#duration?.observe({ consumer: this.#consumer, type }, seconds);
  }
}

function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
