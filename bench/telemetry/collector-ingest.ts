// `node bench/telemetry/collector-ingest.ts [spans]`: CPU per span of the embedded collector's ingest
// (protobuf decode, collectSpans, SpanStore.add into a full 200,000-span store), without HTTP.
// A diagnostic beside the telemetry and service-call benchmarks, not a benchmark of an issue.
//
// The export requests are real: this process traces with `initTelemetry` (the OTLP/HTTP protobuf
// exporter, batches of 512) into a local server that keeps the request bodies: the client and
// server spans of calls over the wire protocol, as in the service-call benchmark. Each
// round then ingests every body again with the first three bytes of every trace id rewritten,
// so that each round's spans are new traces and the store inserts and evicts as it does in place.
import { once } from "node:events";
import { createServer } from "node:http";
import {
  collectSpans,
  decodeTraceRequestProtobuf,
  inboundCallSpan,
  initTelemetry,
  injectContext,
  outboundCallSpan,
  spanStore,
} from "@flotilla/observability";

const spansToIngest = Number(process.argv[2] ?? 1_000_000);
const batches = 40;
const batchSize = 512;

const bodies: Uint8Array[] = [];
const capture = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    bodies.push(new Uint8Array(Buffer.concat(chunks)));
    res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  });
});
capture.listen(0, "127.0.0.1");
await once(capture, "listening");
const address = capture.address();
const port = typeof address === "object" && address !== null ? address.port : 0;

const telemetry = initTelemetry({
  serviceName: "bench-ingest",
  sampleRatio: 1,
  exporter: "otlp",
  endpoint: `http://127.0.0.1:${port}/v1/traces`,
  batch: { maxExportBatchSize: batchSize },
  instrumentations: { http: false, undici: false, pg: false },
});
const init = { method: "GET", route: "/echo/:id", protocol: "flotilla-wire/1", peerAddress: "127.0.0.1" };
for (let b = 0; b < batches; b++) {
  for (let i = 0; i < batchSize / 2; i++) {
    const client = outboundCallSpan({ ...init, peerPort: 40_000 });
    const headers = injectContext<Record<string, string>>({}, client.context);
    const server = inboundCallSpan(headers, { ...init, path: `/echo/${i}`, peerPort: 50_000 + i });
    server.end(200);
    client.end(200);
  }
  await telemetry.forceFlush();
}
await telemetry.shutdown();
capture.close();

// Where each span's trace id sits: tag 0x0a, length 16, the id, then the span id's tag 0x12, length 8.
const traceIdOffsets = bodies.map((body) => {
  const offsets: number[] = [];
  for (let i = 0; i + 20 < body.length; i++) {
    if (body[i] === 0x0a && body[i + 1] === 0x10 && body[i + 18] === 0x12 && body[i + 19] === 0x08) {
      offsets.push(i + 2);
      i += 27;
    }
  }
  return offsets;
});
const spansPerRound = traceIdOffsets.reduce((sum, offsets) => sum + offsets.length, 0);
const store = spanStore({ maxSpans: 200_000 });
let round = 0;
function ingestRound(): void {
  round++;
  for (let b = 0; b < bodies.length; b++) {
    const body = bodies[b]!;
    for (const at of traceIdOffsets[b]!) {
      body[at] = round & 0xff;
      body[at + 1] = (round >>> 8) & 0xff;
      body[at + 2] = (round >>> 16) & 0xff;
    }
    store.add(collectSpans(decodeTraceRequestProtobuf(body)).spans);
  }
}
// Fill the store, and warm up, before measuring.
for (let i = 0; i < Math.ceil(400_000 / spansPerRound); i++) ingestRound();
const rounds = Math.ceil(spansToIngest / spansPerRound);
const before = process.cpuUsage();
for (let i = 0; i < rounds; i++) ingestRound();
const cpu = process.cpuUsage(before);
const spans = rounds * spansPerRound;
const stats = store.stats();
console.log(
  `${spans} spans in ${bodies.length} requests of ${batchSize}: ` +
    `${((cpu.user + cpu.system) / spans).toFixed(2)} µs CPU per span (all threads); ` +
    `store ${stats.spans} spans in ${stats.traces} traces, ${stats.evictedSpans} evicted`,
);
