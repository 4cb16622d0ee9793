import type { Channel, Connection } from "rabbitmq-client";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { TopologyPart } from "./rabbitmq-topology.js";

/**
 * Waits for `promise` at most `timeoutMs`; past that rejects with
 * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` naming `what` (the work itself is not cancelled).
 */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new MessagingError(
            MessagingErrorCode.TransportUnavailable,
            `RabbitMQ is unreachable: ${what} took longer than ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `work` on a fresh channel (acquired within `timeoutMs`) and closes the channel after. */
export async function withChannel<T>(
  connection: Connection,
  timeoutMs: number,
  what: string,
  work: (channel: Channel) => Promise<T>,
): Promise<T> {
  const acquiring = connection.acquire();
  let channel: Channel;
  try {
    channel = await withTimeout(acquiring, timeoutMs, what);
  } catch (error) {
    // The channel may still open after the timeout; it must not leak.
    acquiring.then((late) => late.close()).catch(() => {});
    if (error instanceof MessagingError) throw error;
    throw new MessagingError(
      MessagingErrorCode.TransportUnavailable,
      `RabbitMQ is unreachable: ${what}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    return await work(channel);
  } finally {
    await channel.close().catch(() => {});
  }
}

/**
 * Declares every exchange, then every queue, then every binding of `parts`. A declaration the
 * broker refuses (a queue that exists with other arguments) becomes `FLT_MESSAGING_CONFIG_INVALID`
 * naming it; a broker that cannot be reached, `FLT_MESSAGING_TRANSPORT_UNAVAILABLE`.
 */
export async function declareTopology(
  connection: Connection,
  parts: readonly TopologyPart[],
  timeoutMs: number,
): Promise<void> {
  await withChannel(connection, timeoutMs, "declaring queues and exchanges", async (channel) => {
    const step = async (what: string, action: () => Promise<unknown>): Promise<void> => {
      try {
        await withTimeout(action(), timeoutMs, what);
      } catch (error) {
        if (error instanceof MessagingError) throw error;
        const code = (error as { code?: unknown }).code;
        const refused = code === "PRECONDITION_FAILED" || code === "ACCESS_REFUSED" || code === "NOT_FOUND";
        throw new MessagingError(
          refused ? MessagingErrorCode.ConfigInvalid : MessagingErrorCode.TransportUnavailable,
          `RabbitMQ refused ${what}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    };
    for (const part of parts) {
      for (const exchange of part.exchanges) {
        await step(`declaring exchange ${exchange.exchange}`, () => channel.exchangeDeclare(exchange));
      }
    }
    for (const part of parts) {
      for (const queue of part.queues) {
        await step(`declaring queue ${queue.queue}`, () => channel.queueDeclare(queue));
      }
    }
    for (const part of parts) {
      for (const binding of part.bindings) {
        await step(`binding queue ${binding.queue} to ${binding.exchange} with ${binding.routingKey}`, () =>
          channel.queueBind(binding),
        );
      }
    }
  });
}
