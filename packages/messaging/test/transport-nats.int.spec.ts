import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsTransport } from "../src/transports/nats/nats-transport.js";
import { transportConformance } from "./fixtures/transport-conformance.js";

const server = { host: "127.0.0.1", port: 4222 };

/** Deletes the stream of `namespace` and its dead-letter stream, if they exist. */
async function deleteStreams(namespace: string): Promise<void> {
  const nc = await connect({ servers: `${server.host}:${server.port}` });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of [namespace.toUpperCase(), `${namespace.toUpperCase()}_DLQ`]) {
      await jsm.streams.delete(name).catch(() => false);
    }
  } finally {
    await nc.close();
  }
}

transportConformance({
  name: "nats",
  server,
  create: ({ namespace, endpoint }) =>
    natsTransport({
      servers: `${endpoint.host}:${endpoint.port}`,
      stream: namespace.toUpperCase(),
      subjectPrefix: namespace,
      ackWait: "2s",
      publishTimeout: "2s",
    }),
  cleanup: deleteStreams,
});
