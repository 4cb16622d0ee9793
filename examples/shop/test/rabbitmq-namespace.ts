import { defaultRabbitMqRetryDelaysMs, RabbitMqTransport, type Transport } from "@flotilla/messaging";
import { Connection } from "rabbitmq-client";

/** The machine's RabbitMQ. */
export const machineRabbitMqUrl = "amqp://guest:guest@127.0.0.1:5672";

/** Exchanges and queues on a RabbitMQ broker. */
export interface RabbitMqNames {
  readonly exchanges: readonly string[];
  readonly queues: readonly string[];
}

/**
 * Everything the RabbitMQ transport declares with `exchange` for the given subscription queues, as
 * its topology names them: the exchange, `<exchange>.dead`, `<exchange>.delay.<ms>` (exchange and
 * queue), and per queue the queue, `<queue>.retry.<ms>` and `<queue>.dead`, for the default delays.
 * For queues declared in other processes, whose transports this one cannot ask.
 */
export function rabbitMqNames(exchange: string, queues: readonly string[]): RabbitMqNames {
  const delays = defaultRabbitMqRetryDelaysMs;
  return {
    exchanges: [exchange, `${exchange}.dead`, ...delays.map((ms) => `${exchange}.delay.${ms}`)],
    queues: [
      ...delays.map((ms) => `${exchange}.delay.${ms}`),
      ...queues.flatMap((queue) => [queue, `${queue}.dead`, ...delays.map((ms) => `${queue}.retry.${ms}`)]),
    ],
  };
}

/**
 * The names a test's RabbitMQ namespace holds: what its own transports say they declared, and
 * {@link rabbitMqNames} for the consumer queues of transports in child processes.
 */
export function namespaceNames(
  exchange: string,
  queues: readonly string[],
  transports: readonly Transport[],
): RabbitMqNames {
  const computed = rabbitMqNames(exchange, queues);
  const declared = transports.flatMap((transport) =>
    transport instanceof RabbitMqTransport ? [transport.declaredNames] : [],
  );
  return {
    exchanges: [...new Set([...computed.exchanges, ...declared.flatMap((names) => names.exchanges)])],
    queues: [...new Set([...computed.queues, ...declared.flatMap((names) => names.queues)])],
  };
}

/** Deletes the queues, then the exchanges (a name that does not exist is no error). */
export async function deleteRabbitMqNames(url: string, names: RabbitMqNames): Promise<void> {
  const admin = new Connection({ url, connectionName: "shop-test-cleanup", retryLow: 100, retryHigh: 500 });
  admin.on("error", () => {});
  try {
    for (const queue of names.queues) await admin.queueDelete({ queue });
    for (const exchange of names.exchanges) await admin.exchangeDelete({ exchange });
  } finally {
    await admin.close();
  }
}
