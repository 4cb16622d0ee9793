// The transports a messaging benchmark can run through, built the same way in every process.
import { natsTransport, postgresTransport, rabbitmqTransport, type Transport } from "@flotilla/messaging";

/** Which broker a run goes through. */
export type TransportKind = "rabbitmq" | "nats" | "postgres";

export const transportKinds: readonly TransportKind[] = ["rabbitmq", "nats", "postgres"];

/** A transport of `kind` whose exchange / stream / schema is `namespace` (unique per run). */
export async function benchTransport(
  kind: TransportKind,
  namespace: string,
  databaseUrl: string,
): Promise<Transport> {
  switch (kind) {
    case "rabbitmq":
      return await rabbitmqTransport({ url: "amqp://guest:guest@127.0.0.1:5672", exchange: namespace });
    case "nats":
      return await natsTransport({
        servers: "127.0.0.1:4222",
        stream: namespace.toUpperCase(),
        subjectPrefix: namespace,
      });
    case "postgres":
      return await postgresTransport({ url: databaseUrl, schema: `${namespace}_bus` });
  }
}
