import {
  type Attributes as ApiAttributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  type IdGenerator,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type { CollectedSpan } from "../src/collector/collected-span.js";

/** Trace id of {@link checkoutTrace}. */
export const checkoutTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

/** 2025-01-01T00:00:00Z in seconds: the trace fixtures start there. */
export const epochSeconds = 1_735_689_600;

/** An id generator that hands out the given trace id and span ids 0000000000000001, 0000000000000002 … */
function sequentialIds(traceId: string): IdGenerator {
  let next = 0;
  return {
    generateTraceId: () => traceId,
    generateSpanId: () => (++next).toString(16).padStart(16, "0"),
  };
}

/** `ms` after {@link epochSeconds} as an HrTime, plus `extraNanos` to test nanosecond precision. */
export function at(ms: number, extraNanos = 0): [number, number] {
  return [epochSeconds + Math.floor(ms / 1000), (ms % 1000) * 1_000_000 + extraNanos];
}

/**
 * Real SDK spans of one checkout across three services (two tracer providers sharing an id
 * sequence), finished and exported to memory:
 *
 * ```
 * frontend GET /checkout            0 ms – 120 ms  (server)
 *   frontend POST orders           10 ms –  95 ms  (client)
 *     orders POST /orders          12 ms –  90 ms  (server)
 *       orders db insert           20 ms –  40 ms  (internal, every attribute type)
 *       orders charge              45 ms –  85 ms  (client)
 *         payments charge          47 ms –  80 ms  (server, ERROR "card declined", an event, a link)
 * ```
 */
export async function checkoutTrace(): Promise<ReadableSpan[]> {
  const ids = sequentialIds(checkoutTraceId);
  const exporter = new InMemorySpanExporter();
  const provider = (service: string) =>
    new TracerProvider({
      resource: resourceFromAttributes({ "service.name": service, "service.version": "1.2.3" }),
      idGenerator: ids,
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
  const providers = [provider("frontend"), provider("orders"), provider("payments")] as const;
  const [frontend, orders, payments] = providers.map((p) => p.getTracer("checkout-test", "0.1.0"));
  const child = (span: Span): Context => trace.setSpan(ROOT_CONTEXT, span);

  const root = frontend!.startSpan(
    "GET /checkout",
    { kind: SpanKind.SERVER, startTime: at(0) },
    ROOT_CONTEXT,
  );
  const call = frontend!.startSpan("POST orders", { kind: SpanKind.CLIENT, startTime: at(10) }, child(root));
  const handler = orders!.startSpan(
    "POST /orders",
    { kind: SpanKind.SERVER, startTime: at(12) },
    child(call),
  );
  const attributes: ApiAttributes = {
    "db.system": "postgresql",
    "db.rows": 3,
    "db.ratio": 0.25,
    "db.ok": true,
    "db.tags": ["a", "b"],
    "db.ids": [1, 2, 3],
  };
  const insert = orders!.startSpan(
    "db insert",
    { kind: SpanKind.INTERNAL, startTime: at(20), attributes },
    child(handler),
  );
  insert.end(at(40, 123));
  const charge = orders!.startSpan("charge", { kind: SpanKind.CLIENT, startTime: at(45) }, child(handler));
  const pay = payments!.startSpan(
    "charge",
    {
      kind: SpanKind.SERVER,
      startTime: at(47),
      links: [{ context: insert.spanContext(), attributes: { why: "audit" } }],
    },
    child(charge),
  );
  pay.addEvent("card checked", { "card.brand": "visa" }, at(60));
  pay.setStatus({ code: SpanStatusCode.ERROR, message: "card declined" });
  pay.end(at(80));
  charge.end(at(85));
  handler.end(at(90));
  call.end(at(95));
  root.end(at(120));
  const spans = exporter.getFinishedSpans();
  await Promise.all(providers.map((p) => p.shutdown()));
  return spans;
}

let spanCounter = 0;

/** A hand-made stored span for store and waterfall tests; times in ms after {@link epochSeconds}. */
export function makeSpan(
  fields: Partial<CollectedSpan> & {
    traceId: string;
    service: string;
    name: string;
    startAt: number;
    endAt: number;
  },
): CollectedSpan {
  const { startAt, endAt, ...rest } = fields;
  const startNs = BigInt(epochSeconds) * 1_000_000_000n + BigInt(Math.round(startAt * 1e6));
  const endNs = BigInt(epochSeconds) * 1_000_000_000n + BigInt(Math.round(endAt * 1e6));
  return {
    spanId: (++spanCounter).toString(16).padStart(16, "0"),
    traceState: "",
    kind: 1,
    startTimeUnixNano: startNs,
    endTimeUnixNano: endNs,
    startMs: Number(startNs) / 1e6,
    durationMs: Number(endNs - startNs) / 1e6,
    attributes: {},
    status: { code: 0, message: "" },
    events: [],
    links: [],
    flags: 1,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
    resource: { "service.name": fields.service },
    scope: { name: "test", version: "" },
    ...rest,
  };
}

/** A 32-hex-digit trace id made from a number. */
export function traceIdOf(n: number): string {
  return n.toString(16).padStart(32, "0");
}
