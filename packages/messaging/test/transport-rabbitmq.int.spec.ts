import { Connection } from "rabbitmq-client";
import { afterAll } from "vitest";
import { type RabbitMqTransport, rabbitmqTransport } from "../src/transports/rabbitmq/rabbitmq-transport.js";
import { transportConformance } from "./fixtures/transport-conformance.js";

const server = { host: "127.0.0.1", port: 5672 };
const admin = new Connection({
  url: `amqp://guest:guest@${server.host}:${server.port}`,
  connectionName: "conformance-cleanup",
});
admin.on("error", () => {});
const created = new Map<string, RabbitMqTransport[]>();

afterAll(async () => {
  await admin.close();
});

transportConformance({
  name: "rabbitmq",
  server,
  create: async ({ namespace, endpoint }) => {
    const transport = rabbitmqTransport({
      url: `amqp://guest:guest@${endpoint.host}:${endpoint.port}`,
      exchange: namespace,
      reconnectDelay: { min: 100, max: 1_000 },
    });
    created.set(namespace, [...(created.get(namespace) ?? []), transport]);
    return transport;
  },
  cleanup: async (namespace) => {
    const transports = created.get(namespace) ?? [];
    created.delete(namespace);
    const queues = new Set(transports.flatMap((transport) => transport.declaredNames.queues));
    const exchanges = new Set(transports.flatMap((transport) => transport.declaredNames.exchanges));
    for (const queue of queues) await admin.queueDelete({ queue });
    for (const exchange of exchanges) await admin.exchangeDelete({ exchange });
  },
});
