import type { Envelope, Publisher } from "rabbitmq-client";
import { MessagingError, MessagingErrorCode, PublishFailedError } from "../../errors/messaging-error.js";
import type { RabbitMqConnectionState } from "./rabbitmq-connection-state.js";
import type { TopologyPart } from "./rabbitmq-topology.js";

/** One AMQP message ready to send. */
export interface AmqpOutgoing {
  readonly envelope: Envelope;
  readonly body: Buffer;
}

/**
 * A publisher channel in confirm mode that declares `topology` before its first publish and again
 * after each reconnection, sends a batch pipelined, and turns the outcome into the errors
 * {@link Transport.publish} promises: a {@link PublishFailedError} with the leading confirmed count,
 * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` when nothing could be sent in time, never a hang.
 */
export class ConfirmedPublisher {
  readonly #state: RabbitMqConnectionState;
  readonly #publisher: Publisher;
  readonly #timeoutMs: number;

  constructor(state: RabbitMqConnectionState, topology: TopologyPart, timeoutMs: number) {
    this.#state = state;
    this.#timeoutMs = timeoutMs;
    this.#publisher = state.connection.createPublisher({
      confirm: true,
      maxAttempts: 1,
      exchanges: topology.exchanges,
      queues: topology.queues,
      queueBindings: topology.bindings,
    });
  }

  /** Sends `messages` in order and waits for every confirm, at most the publish timeout. */
  async send(messages: readonly AmqpOutgoing[]): Promise<void> {
    if (messages.length === 0) return;
    const started = performance.now();
    // No send may be left queued while the broker is down, to go out unnoticed after publish()
    // has reported the failure.
    await this.#state.waitUntilUp(this.#timeoutMs);
    const sends = messages.map(({ envelope, body }) => this.#publisher.send(envelope, body));
    // A send abandoned at the timeout still settles later; nobody may be left to observe it.
    for (const send of sends) send.catch(() => {});

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(
        () => resolve("timeout"),
        Math.max(0, this.#timeoutMs - (performance.now() - started)),
      );
    });
    const outcomes: Array<{ ok: true } | { ok: false; error: unknown }> = [];
    try {
      for (const send of sends) {
        const outcome = await Promise.race([
          send.then(
            () => ({ ok: true }) as const,
            (error: unknown) => ({ ok: false, error }) as const,
          ),
          timeout,
        ]);
        if (outcome === "timeout") {
          outcomes.push({
            ok: false,
            error: new Error(`no publisher confirm within ${this.#timeoutMs} ms`),
          });
          break;
        }
        outcomes.push(outcome);
        if (!outcome.ok) break;
      }
    } finally {
      clearTimeout(timer);
    }

    const published = outcomes.findIndex((outcome) => !outcome.ok);
    if (published === -1) return;
    const failure = outcomes[published] as { ok: false; error: unknown };
    const reason = failure.error instanceof Error ? failure.error.message : String(failure.error);
    if (published === 0 && (!this.#state.up || isConnectionLoss(failure.error))) {
      throw new MessagingError(
        MessagingErrorCode.TransportUnavailable,
        `RabbitMQ is unreachable: could not publish within ${this.#timeoutMs} ms (${reason})`,
        { cause: failure.error },
      );
    }
    const id = messages[published]?.envelope.messageId;
    throw new PublishFailedError(
      `RabbitMQ did not confirm message ${published + 1} of ${messages.length}${id === undefined ? "" : ` (id ${id})`}: ${reason}`,
      published,
      { cause: failure.error },
    );
  }

  /** Closes the publisher's channel. */
  async close(): Promise<void> {
    await this.#publisher.close().catch(() => {});
  }
}

const connectionLossCodes = new Set(["CONN_CLOSE", "CONNECTION_TIMEOUT", "SOCKET_TIMEOUT", "CLOSING"]);

function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (connectionLossCodes.has(code) || code.startsWith("E"));
}
