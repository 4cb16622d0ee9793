import type { RabbitMqQueueType } from "./rabbitmq-transport-options.js";

/** Arguments of a `queue.declare`, as `rabbitmq-client` takes them. */
export interface QueueDeclaration {
  readonly queue: string;
  readonly durable: true;
  readonly arguments: Record<string, string | number>;
}

/** Arguments of an `exchange.declare`. */
export interface ExchangeDeclaration {
  readonly exchange: string;
  readonly type: "topic" | "direct" | "fanout";
  readonly durable: true;
}

/** Arguments of a `queue.bind`. */
export interface QueueBinding {
  readonly exchange: string;
  readonly queue: string;
  readonly routingKey: string;
}

/** Exchanges, queues and bindings to declare together (and again after each reconnection). */
export interface TopologyPart {
  readonly exchanges: ExchangeDeclaration[];
  readonly queues: QueueDeclaration[];
  readonly bindings: QueueBinding[];
}

/**
 * The names and arguments of everything the RabbitMQ transport declares for one exchange:
 *
 * - `<exchange>`: durable topic exchange; routing key = topic.
 * - `<exchange>.delay.<ms>`: a fanout exchange and a queue of that name with `x-message-ttl` that
 *   dead-letters back to `<exchange>` keeping the topic as routing key (delayed publish).
 * - `<queue>`: a subscription's durable queue, bound with each topic pattern; broker-side rejects
 *   dead-letter to `<exchange>.dead`.
 * - `<queue>.retry.<ms>`: TTL queues that dead-letter back into `<queue>` (delayed retry).
 * - `<exchange>.dead` (direct) and `<queue>.dead`, bound with routing key `<queue>`.
 */
export class RabbitMqTopology {
  readonly exchange: string;
  readonly deadExchange: string;
  readonly #delaysMs: readonly number[];
  readonly #queueType: RabbitMqQueueType;

  constructor(exchange: string, delaysMs: readonly number[], queueType: RabbitMqQueueType) {
    this.exchange = exchange;
    this.deadExchange = `${exchange}.dead`;
    this.#delaysMs = delaysMs;
    this.#queueType = queueType;
  }

  /** The rung a wait of `delayMs` uses: the smallest at least as long, or the largest. */
  rung(delayMs: number): number {
    return this.#delaysMs.find((rung) => rung >= delayMs) ?? this.#delaysMs.at(-1)!;
  }

  /** The exchange a message delayed by `rungMs` is published to. */
  delayExchange(rungMs: number): string {
    return `${this.exchange}.delay.${rungMs}`;
  }

  /** The queue a retry that waits `rungMs` is published to. */
  retryQueue(queue: string, rungMs: number): string {
    return `${queue}.retry.${rungMs}`;
  }

  /** The dead-letter queue of a subscription queue. */
  deadQueue(queue: string): string {
    return `${queue}.dead`;
  }

  /** The topic exchange and the delay ladder, which publishing needs. */
  publishing(): TopologyPart {
    const exchanges: ExchangeDeclaration[] = [{ exchange: this.exchange, type: "topic", durable: true }];
    const queues: QueueDeclaration[] = [];
    const bindings: QueueBinding[] = [];
    for (const rung of this.#delaysMs) {
      const name = this.delayExchange(rung);
      exchanges.push({ exchange: name, type: "fanout", durable: true });
      queues.push({
        queue: name,
        durable: true,
        arguments: {
          "x-queue-type": "classic",
          "x-message-ttl": rung,
          // No x-dead-letter-routing-key: the message keeps its topic as routing key.
          "x-dead-letter-exchange": this.exchange,
        },
      });
      bindings.push({ exchange: name, queue: name, routingKey: "" });
    }
    return { exchanges, queues, bindings };
  }

  /** A subscription's queue with its bindings. */
  subscription(queue: string, patterns: readonly string[]): TopologyPart {
    return {
      exchanges: [{ exchange: this.exchange, type: "topic", durable: true }],
      queues: [
        {
          queue,
          durable: true,
          arguments: {
            "x-queue-type": this.#queueType,
            "x-dead-letter-exchange": this.deadExchange,
            "x-dead-letter-routing-key": queue,
          },
        },
      ],
      bindings: [...new Set(patterns)].map((pattern) => ({
        exchange: this.exchange,
        queue,
        routingKey: pattern,
      })),
    };
  }

  /** The retry ladder and the dead-letter queue of a subscription. */
  subscriptionSupport(queue: string): TopologyPart {
    const queues: QueueDeclaration[] = this.#delaysMs.map((rung) => ({
      queue: this.retryQueue(queue, rung),
      durable: true,
      arguments: {
        "x-queue-type": "classic",
        "x-message-ttl": rung,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
      },
    }));
    const dead = this.deadQueue(queue);
    // Classic, so that peeking (get without ack, then requeue) keeps the order.
    queues.push({ queue: dead, durable: true, arguments: { "x-queue-type": "classic" } });
    return {
      exchanges: [{ exchange: this.deadExchange, type: "direct", durable: true }],
      queues,
      bindings: [{ exchange: this.deadExchange, queue: dead, routingKey: queue }],
    };
  }

  /** Every exchange and queue name this topology may create for `queues` (for tests and tear-down). */
  names(queues: readonly string[]): { exchanges: string[]; queues: string[] } {
    const parts = [
      this.publishing(),
      ...queues.flatMap((q) => [this.subscription(q, []), this.subscriptionSupport(q)]),
    ];
    return {
      exchanges: [...new Set(parts.flatMap((p) => p.exchanges.map((e) => e.exchange)))],
      queues: [...new Set(parts.flatMap((p) => p.queues.map((q) => q.queue)))],
    };
  }
}
