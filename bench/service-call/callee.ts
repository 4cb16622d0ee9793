// The callee of the service-call benchmark: one process running
// - a Flotilla service (`GET /echo/:id`, no database) registered with the registry the benchmark
//   runs, tracing at 10 % exported over OTLP to the benchmark's embedded collector, NODE_ENV as
//   the benchmark sets it (production: no response validation on the server side);
// - a Moleculer 0.15 broker (node "callee") with the TCP transporter on a loopback port, UDP
//   discovery off, exposing the action `echo.get` with the same answer.
// `node callee.ts <registryUrl> <otlpTracesUrl>`; announces {"url","moleculerPort"} on stderr.
import { defineService, startService } from "@flotilla/service";
import { ServiceBroker } from "moleculer";
import { echoAnswer, echoContract } from "./echo-contract.ts";

const [registryUrl, tracesUrl] = process.argv.slice(2);
if (registryUrl === undefined || tracesUrl === undefined) {
  throw new Error("usage: node callee.ts <registryUrl> <otlpTracesUrl>");
}

const echoService = defineService({
  contract: echoContract,
  handlers: {
    async get({ params }) {
      return echoAnswer(params.id);
    },
  },
});

const running = await startService(echoService, {
  config: {
    host: "127.0.0.1",
    port: 0,
    registry: { url: registryUrl },
    // BENCH_EXPORTER_CALLEE=none: the same spans, not exported (an experiment, never published).
    telemetry: {
      sampleRatio: 0.1,
      exporter: process.env.BENCH_EXPORTER_CALLEE === "none" ? "none" : "otlp",
      endpoint: tracesUrl,
    },
    shutdown: { linger: 0, drainTimeout: "1s" },
    log: { level: "warn" },
  },
});

const broker = new ServiceBroker({
  nodeID: "callee",
  namespace: "flotilla-bench",
  logger: false,
  transporter: {
    type: "TCP",
    options: { udpDiscovery: false, port: 0 },
  },
});
broker.createService({
  name: "echo",
  actions: {
    get(ctx: { params: { id: string } }) {
      return echoAnswer(ctx.params.id);
    },
  },
});
await broker.start();
const moleculerPort = (broker.registry as unknown as { nodes: { localNode: { port: number } } }).nodes
  .localNode.port;

process.stderr.write(`${JSON.stringify({ url: running.url, moleculerPort })}\n`);

process.once("SIGTERM", async () => {
  await broker.stop();
  await running.stop();
  process.exit(0);
});
