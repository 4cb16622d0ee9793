import { isConfigError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { describe, expect, it } from "vitest";
import { collectSpans } from "../src/collector/collect-spans.js";
import type { CollectedSpan } from "../src/collector/collected-span.js";
import { isInvalidTraceQueryError } from "../src/collector/collector-error.js";
import { collectorJson } from "../src/collector/collector-json.js";
import { decodeTraceRequestProtobuf } from "../src/collector/otlp-protobuf-decoder.js";
import type { OtlpSpan } from "../src/collector/otlp-trace-request.js";
import { SpanStore, spanStore } from "../src/collector/span-store.js";
import { TraceSpans } from "../src/collector/trace-spans.js";
import { flattenTraceTree, type SpanNode } from "../src/collector/trace-tree.js";
import { traceView } from "../src/collector/trace-view.js";
import { checkoutTrace, checkoutTraceId, epochSeconds, makeSpan, traceIdOf } from "./collector-fixtures.js";

const msAt = (ms: number) => epochSeconds * 1000 + ms;

/** The tree as indented `service name` lines, `(orphan)` marked. */
function outline(nodes: readonly SpanNode[]): string[] {
  return flattenTraceTree({ roots: nodes } as never).map(
    (row) => `${"  ".repeat(row.depth)}${row.span.service} ${row.span.name}${row.orphan ? " (orphan)" : ""}`,
  );
}

async function checkoutSpans(): Promise<CollectedSpan[]> {
  const bytes = ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!;
  return collectSpans(decodeTraceRequestProtobuf(bytes)).spans;
}

describe("collectSpans", () => {
  it("folds the resource's service name into each span and rejects spans with invalid ids or times", () => {
    const span = (fields: Partial<OtlpSpan>): OtlpSpan => ({
      traceId: checkoutTraceId,
      spanId: "0000000000000001",
      traceState: "",
      parentSpanId: "",
      flags: 0,
      name: "op",
      kind: 0,
      startTimeUnixNano: 10n,
      endTimeUnixNano: 20n,
      attributes: {},
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      status: { code: 0, message: "" },
      ...fields,
    });
    const batch = collectSpans({
      resourceSpans: [
        {
          resource: { attributes: { "service.name": "api" }, droppedAttributesCount: 0 },
          scopeSpans: [
            {
              scope: { name: "s", version: "" },
              spans: [
                span({ parentSpanId: "0000000000000000" }),
                span({ traceId: "" }),
                span({ traceId: "0".repeat(32) }),
                span({ spanId: "0".repeat(16) }),
                span({ startTimeUnixNano: 30n }),
              ],
            },
          ],
        },
        {
          resource: { attributes: {}, droppedAttributesCount: 0 },
          scopeSpans: [{ scope: { name: "", version: "" }, spans: [span({ spanId: "0000000000000002" })] }],
        },
      ],
    });
    expect(batch.spans.map((s) => [s.service, s.spanId, s.parentSpanId])).toEqual([
      ["api", "0000000000000001", undefined],
      ["unknown_service", "0000000000000002", undefined],
    ]);
    // A root span has no parentSpanId key at all, as the type's optional property promises.
    expect(Object.keys(batch.spans[0]!)).not.toContain("parentSpanId");
    expect(batch.spans[0]!.durationMs).toBe(0.00001);
    expect(batch.rejections).toEqual([
      { path: "resourceSpans[0].scopeSpans[0].spans[1]", reason: "trace id is missing or all zeros" },
      { path: "resourceSpans[0].scopeSpans[0].spans[2]", reason: "trace id is missing or all zeros" },
      { path: "resourceSpans[0].scopeSpans[0].spans[3]", reason: "span id is missing or all zeros" },
      { path: "resourceSpans[0].scopeSpans[0].spans[4]", reason: "span ends before it starts" },
    ]);
  });
});

describe("span tree", () => {
  it("nests real SDK spans by parent, children sorted by start, across services", async () => {
    const store = spanStore();
    // Out of order on purpose: the tree does not depend on arrival order.
    store.add((await checkoutSpans()).reverse());
    const tree = store.getTrace(checkoutTraceId.toUpperCase())!;
    expect(outline(tree.roots)).toEqual([
      "frontend GET /checkout",
      "  frontend POST orders",
      "    orders POST /orders",
      "      orders db insert",
      "      orders charge",
      "        payments charge",
    ]);
    expect(tree).toMatchObject({
      traceId: checkoutTraceId,
      spanCount: 6,
      errorCount: 1,
      durationMs: 120,
      startMs: msAt(0),
      services: ["frontend", "orders", "payments"],
    });
    expect(store.getTrace(traceIdOf(1))).toBeUndefined();
  });

  it("puts spans whose parent has not arrived at the root level, marked, and attaches them once it does", () => {
    const store = spanStore();
    const traceId = traceIdOf(7);
    const root = makeSpan({ traceId, service: "gw", name: "root", startAt: 0, endAt: 100 });
    const middle = makeSpan({
      traceId,
      service: "api",
      name: "middle",
      startAt: 10,
      endAt: 90,
      parentSpanId: root.spanId,
    });
    const leafA = makeSpan({
      traceId,
      service: "db",
      name: "leaf-a",
      startAt: 30,
      endAt: 40,
      parentSpanId: middle.spanId,
    });
    const leafB = makeSpan({
      traceId,
      service: "db",
      name: "leaf-b",
      startAt: 20,
      endAt: 25,
      parentSpanId: middle.spanId,
    });
    store.add([leafA, root, leafB]);
    expect(outline(store.getTrace(traceId)!.roots)).toEqual([
      "gw root",
      "db leaf-b (orphan)",
      "db leaf-a (orphan)",
    ]);
    expect(store.listTraces()[0]).toMatchObject({ rootService: "gw", rootOperation: "root", orphanCount: 2 });

    store.add([middle]);
    expect(outline(store.getTrace(traceId)!.roots)).toEqual([
      "gw root",
      "  api middle",
      "    db leaf-b",
      "    db leaf-a",
    ]);
    expect(store.listTraces()[0]).toMatchObject({ orphanCount: 0, spanCount: 4 });
  });

  it("names the earliest orphan as the root while the real root is missing", () => {
    const store = spanStore();
    const traceId = traceIdOf(8);
    store.add([
      makeSpan({
        traceId,
        service: "late",
        name: "b",
        startAt: 50,
        endAt: 60,
        parentSpanId: "00000000000000aa",
      }),
      makeSpan({
        traceId,
        service: "early",
        name: "a",
        startAt: 5,
        endAt: 70,
        parentSpanId: "00000000000000bb",
      }),
    ]);
    expect(store.listTraces()[0]).toMatchObject({
      rootService: "early",
      rootOperation: "a",
      orphanCount: 2,
      durationMs: 65,
    });
  });

  it("survives parent cycles in bad data: every span stays in the tree, cut loose as orphans", () => {
    const store = spanStore();
    const traceId = traceIdOf(9);
    const root = makeSpan({ traceId, service: "s", name: "root", startAt: 0, endAt: 10 });
    const a = makeSpan({
      traceId,
      service: "s",
      name: "a",
      startAt: 1,
      endAt: 2,
      spanId: "00000000000000a1",
      parentSpanId: "00000000000000a2",
    });
    const b = makeSpan({
      traceId,
      service: "s",
      name: "b",
      startAt: 3,
      endAt: 4,
      spanId: "00000000000000a2",
      parentSpanId: "00000000000000a1",
    });
    const self = makeSpan({
      traceId,
      service: "s",
      name: "self",
      startAt: 5,
      endAt: 6,
      spanId: "00000000000000a3",
      parentSpanId: "00000000000000a3",
    });
    store.add([root, a, b, self]);
    const tree = store.getTrace(traceId)!;
    expect(outline(tree.roots)).toEqual(["s root", "s a (orphan)", "  s b", "s self (orphan)"]);
    expect(() => collectorJson(tree)).not.toThrow();
  });

  it("handles a chain of 10 000 spans without recursion, and its view serializes", () => {
    const store = spanStore();
    const traceId = traceIdOf(10);
    const spans: CollectedSpan[] = [];
    for (let i = 0; i < 10_000; i++) {
      const parent = spans[i - 1];
      spans.push(
        makeSpan({
          traceId,
          service: "s",
          name: `n${i}`,
          startAt: i,
          endAt: 20_000 - i,
          ...(parent ? { parentSpanId: parent.spanId } : {}),
        }),
      );
    }
    store.add(spans);
    const tree = store.getTrace(traceId)!;
    const view = traceView(tree);
    expect(view.spans).toHaveLength(10_000);
    expect(view.spans.at(-1)).toMatchObject({ name: "n9999", depth: 9999, orphan: false, childCount: 0 });
    expect(JSON.parse(collectorJson(view)).spans[5000].depth).toBe(5000);
  });
});

describe("listTraces", () => {
  function populated(): SpanStore {
    const store = spanStore();
    // trace 1: gw → api (ok), 0–100 ms; trace 2: gw → api (error in api), 200–250 ms;
    // trace 3: worker alone, 300–900 ms.
    const t1 = traceIdOf(1);
    const r1 = makeSpan({ traceId: t1, service: "gw", name: "GET /a", startAt: 0, endAt: 100 });
    const t2 = traceIdOf(2);
    const r2 = makeSpan({ traceId: t2, service: "gw", name: "GET /b", startAt: 200, endAt: 250 });
    const t3 = traceIdOf(3);
    store.add([
      r1,
      makeSpan({
        traceId: t1,
        service: "api",
        name: "load",
        startAt: 10,
        endAt: 90,
        parentSpanId: r1.spanId,
      }),
      r2,
      makeSpan({
        traceId: t2,
        service: "api",
        name: "save",
        startAt: 210,
        endAt: 240,
        parentSpanId: r2.spanId,
        status: { code: 2, message: "conflict" },
      }),
      makeSpan({ traceId: t3, service: "worker", name: "job", startAt: 300, endAt: 900 }),
    ]);
    return store;
  }
  const ids = (summaries: { traceId: string }[]) => summaries.map((s) => Number.parseInt(s.traceId, 16));

  it("summarises each trace, the most recent first", () => {
    const summaries = populated().listTraces();
    expect(ids(summaries)).toEqual([3, 2, 1]);
    expect(summaries[1]).toEqual({
      traceId: traceIdOf(2),
      rootService: "gw",
      rootOperation: "GET /b",
      startMs: msAt(200),
      startTimeUnixNano: BigInt(msAt(200)) * 1_000_000n,
      durationMs: 50,
      spanCount: 2,
      errorCount: 1,
      error: true,
      services: ["api", "gw"],
      orphanCount: 0,
    });
  });

  it.each([
    { query: { service: "api" }, expected: [2, 1] },
    { query: { service: "nobody" }, expected: [] },
    { query: { operation: "save" }, expected: [2] },
    { query: { service: "gw", operation: "save" }, expected: [] },
    { query: { service: "api", operation: "save" }, expected: [2] },
    { query: { errorsOnly: true }, expected: [2] },
    { query: { minDuration: "100ms" }, expected: [3, 1] },
    { query: { minDuration: 101 }, expected: [3] },
    { query: { from: msAt(100), to: msAt(300) }, expected: [3, 2] },
    { query: { from: new Date(msAt(200)).toISOString() }, expected: [3, 2] },
    { query: { to: new Date(msAt(199)) }, expected: [1] },
    { query: { limit: 2 }, expected: [3, 2] },
    { query: { service: "gw", errorsOnly: false, minDuration: "60ms", limit: 5 }, expected: [1] },
  ])("filters by $query", ({ query, expected }) => {
    expect(ids(populated().listTraces(query))).toEqual(expected);
  });

  it("refuses bad filters, naming each", () => {
    try {
      spanStore().listTraces({
        limit: 0,
        minDuration: "fast",
        from: "yesterday",
        service: "",
        colour: "red",
      } as never);
      expect.unreachable();
    } catch (error) {
      expect(isInvalidTraceQueryError(error)).toBe(true);
      if (!isInvalidTraceQueryError(error)) return;
      expect(error.code).toBe("FLT_COLLECTOR_INVALID_QUERY");
      expect(error.issues.map((i) => i.path).sort()).toEqual([
        "colour",
        "from",
        "limit",
        "minDuration",
        "service",
      ]);
    }
  });

  it("lists services and their operations", () => {
    const store = populated();
    expect(store.services()).toEqual(["api", "gw", "worker"]);
    expect(store.operations("gw")).toEqual(["GET /a", "GET /b"]);
    expect(store.operations("nobody")).toEqual([]);
  });
});

describe("dependency graph", () => {
  /** `calls` traces of gw → api → db, api spans lasting 1, 2, … ms, every fifth failing. */
  function withCalls(calls: number): SpanStore {
    const store = spanStore();
    for (let i = 1; i <= calls; i++) {
      const traceId = traceIdOf(100 + i);
      const start = i * 1000;
      const root = makeSpan({ traceId, service: "gw", name: "GET", startAt: start, endAt: start + 500 });
      const api = makeSpan({
        traceId,
        service: "api",
        name: "handle",
        startAt: start + 1,
        endAt: start + 1 + i,
        parentSpanId: root.spanId,
        status: { code: i % 5 === 0 ? 2 : 0, message: "" },
      });
      const inner = makeSpan({
        traceId,
        service: "api",
        name: "validate",
        startAt: start + 1,
        endAt: start + 2,
        parentSpanId: api.spanId,
      });
      const db = makeSpan({
        traceId,
        service: "db",
        name: "query",
        startAt: start + 2,
        endAt: start + 3,
        parentSpanId: inner.spanId,
      });
      store.add([root, api, inner, db]);
    }
    return store;
  }

  it("derives caller → callee edges from parent → child spans across services, with error rate and percentiles", () => {
    const graph = withCalls(100).dependencies();
    expect(graph.edges).toEqual([
      { caller: "api", callee: "db", calls: 100, errors: 0, errorRate: 0, p50Ms: 1, p99Ms: 1 },
      { caller: "gw", callee: "api", calls: 100, errors: 20, errorRate: 0.2, p50Ms: 50, p99Ms: 99 },
    ]);
    expect(graph.nodes).toEqual([
      { service: "api", spanCount: 200, errorCount: 20 },
      { service: "db", spanCount: 100, errorCount: 0 },
      { service: "gw", spanCount: 100, errorCount: 0 },
    ]);
  });

  it("counts only child spans that started in the window", () => {
    const graph = withCalls(10).dependencies({ from: msAt(3000), to: msAt(5999) });
    expect(graph.edges.find((e) => e.caller === "gw")).toEqual({
      caller: "gw",
      callee: "api",
      calls: 3,
      errors: 1,
      errorRate: 1 / 3,
      p50Ms: 4,
      p99Ms: 5,
    });
    expect(withCalls(3).dependencies({ to: msAt(0) })).toEqual({ nodes: [], edges: [] });
    expect(() => withCalls(1).dependencies({ from: msAt(10), to: msAt(5) })).toThrow(
      /to: must not be before from/,
    );
  });
});

describe("retention", () => {
  function trace(n: number, spans: number, service = `svc-${n % 3}`): CollectedSpan[] {
    const traceId = traceIdOf(n);
    return Array.from({ length: spans }, (_, i) =>
      makeSpan({ traceId, service, name: `op${i}`, startAt: n, endAt: n + 1 }),
    );
  }

  it("keeps a flood at its span bound by evicting the oldest traces whole", () => {
    const store = spanStore({ maxSpans: 1000, maxSpansPerTrace: 100 });
    let peak = 0;
    for (let n = 1; n <= 500; n++) {
      store.add(trace(n, 1 + (n % 100)));
      peak = Math.max(peak, store.spanCount);
    }
    expect(peak).toBeLessThanOrEqual(1000);
    const stats = store.stats();
    expect(stats.spans).toBe(store.spanCount);
    expect(stats.spans + stats.evictedSpans).toBe(
      Array.from({ length: 500 }, (_, i) => 1 + ((i + 1) % 100)).reduce((a, b) => a + b),
    );
    // What is left is the most recent traces, each complete.
    const kept = store.listTraces({ limit: 1000 });
    const keptIds = kept.map((s) => Number.parseInt(s.traceId, 16)).sort((a, b) => a - b);
    expect(keptIds.at(-1)).toBe(500);
    expect(keptIds).toEqual(Array.from({ length: keptIds.length }, (_, i) => keptIds[0]! + i));
    for (const summary of kept)
      expect(summary.spanCount).toBe(1 + (Number.parseInt(summary.traceId, 16) % 100));
    expect(store.services().length).toBeLessThanOrEqual(3);
  });

  it("evicts the least recently updated trace, not the oldest started", () => {
    const store = spanStore({ maxSpans: 4, maxSpansPerTrace: 2 });
    store.add(trace(1, 1));
    store.add(trace(2, 2));
    store.add([makeSpan({ traceId: traceIdOf(1), service: "x", name: "late", startAt: 5, endAt: 6 })]);
    store.add(trace(3, 1));
    expect(store.listTraces().map((s) => Number.parseInt(s.traceId, 16))).toEqual([3, 1]);
    expect(store.services()).toEqual(["svc-0", "svc-1", "x"]);
  });

  it("keeps evicting in order of last update through many updates, evictions and a clear", () => {
    const store = spanStore({ maxSpans: 50, maxSpansPerTrace: 10 });
    // The model: trace id → span count, in order of last update (a Map re-inserted on update).
    const model = new Map<number, number>();
    for (let round = 0; round < 3000; round++) {
      if (round === 1500) {
        store.clear();
        model.clear();
      }
      // Mostly new traces; now and then one more span for a recent trace, which moves it to the back.
      const n = round % 5 === 0 && round > 20 ? round - 1 - (round % 13) : round + 1;
      const spans = model.get(n) ?? 0;
      if (spans >= 10) continue;
      store.add([
        makeSpan({ traceId: traceIdOf(n), service: "s", name: `op${round}`, startAt: n, endAt: n + 1 }),
      ]);
      model.delete(n);
      model.set(n, spans + 1);
      let total = [...model.values()].reduce((a, b) => a + b, 0);
      for (const [id, count] of model) {
        if (total <= 50) break;
        model.delete(id);
        total -= count;
      }
      if (round % 97 === 0 || round === 2999) {
        const kept = store.listTraces({ limit: 100 }).map((t) => Number.parseInt(t.traceId, 16));
        expect(kept.sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b));
      }
    }
  });

  it("refuses spans past maxSpansPerTrace and ignores duplicates", () => {
    const store = spanStore({ maxSpans: 100, maxSpansPerTrace: 3 });
    const spans = trace(1, 5);
    expect(store.add(spans)).toEqual({
      accepted: 3,
      duplicates: 0,
      rejected: 2,
      rejectedTraces: [traceIdOf(1)],
    });
    expect(store.add(spans.slice(0, 2))).toEqual({
      accepted: 0,
      duplicates: 2,
      rejected: 0,
      rejectedTraces: [],
    });
    expect(store.stats()).toMatchObject({ spans: 3, traces: 1, duplicateSpans: 2, rejectedSpans: 2 });
  });

  it("drops traces that received nothing for maxAge", async () => {
    const clock = new FakeClock();
    const store = spanStore({ maxAge: "1m", clock });
    store.add(trace(1, 2));
    await clock.advance(30_000);
    store.add(trace(2, 2));
    await clock.advance(30_000);
    expect(store.listTraces().map((s) => Number.parseInt(s.traceId, 16))).toEqual([2]);
    expect(store.services()).toEqual(["svc-2"]);
    await clock.advance(30_000);
    expect(store.stats()).toMatchObject({
      traces: 0,
      spans: 0,
      services: 0,
      evictedTraces: 2,
      evictedSpans: 4,
    });
  });

  it("counts a re-sent span of a one-span trace as a duplicate, and keeps both spans once a second arrives", () => {
    const store = spanStore({ maxSpans: 100 });
    const [first, second] = trace(7, 2);
    expect(store.add([first!])).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(store.add([first!])).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(store.add([second!, first!])).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(store.getTraceSummary(traceIdOf(7))?.spanCount).toBe(2);
  });

  it("validates its options, naming each bad one", () => {
    try {
      new SpanStore({ maxSpans: 0, maxSpansPerTrace: 1.5, maxAge: "soon", maxspans: 3 } as never);
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error)).toBe(true);
      if (!isConfigError(error)) return;
      expect(error.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
        "maxspans: unknown option; expected one of maxSpans, maxSpansPerTrace, maxAge, clock",
        "maxSpans: must be at least 1, got 0",
        "maxSpansPerTrace: expected a whole number, got 1.5",
        expect.stringMatching(/^maxAge: expected a duration/),
      ]);
    }
    expect(() => spanStore({ maxSpans: 10, maxSpansPerTrace: 11 })).toThrow(
      /maxSpansPerTrace: must be at most 10/,
    );
    expect(spanStore({ maxSpans: 10 }).options.maxSpansPerTrace).toBe(10);
  });
});

describe("TraceSpans", () => {
  function entriesOf(map: ReadonlyMap<string, CollectedSpan>) {
    const viaForEach: [string, string][] = [];
    map.forEach((span, id, self) => {
      expect(self).toBe(map);
      viaForEach.push([id, span.name]);
    });
    return {
      size: map.size,
      keys: [...map.keys()],
      values: [...map.values()].map((s) => s.name),
      entries: [...map.entries()].map(([id, s]) => [id, s.name]),
      iterated: [...map].map(([id, s]) => [id, s.name]),
      viaForEach,
    };
  }

  it("answers as a Map of the same spans would, from none through one and a list of 16 to a Map", () => {
    const spans = Array.from({ length: 20 }, (_, i) =>
      makeSpan({ traceId: traceIdOf(1), service: "s", name: `op${i}`, startAt: i, endAt: i + 1 }),
    );
    const ours = new TraceSpans();
    const model = new Map<string, CollectedSpan>();
    for (let n = 0; n <= spans.length; n++) {
      expect(entriesOf(ours)).toEqual(entriesOf(model));
      for (const span of spans) {
        expect(ours.has(span.spanId)).toBe(model.has(span.spanId));
        expect(ours.get(span.spanId)).toBe(model.get(span.spanId));
      }
      expect(ours.get("0000000000000000")).toBeUndefined();
      const next = spans[n];
      if (next === undefined) break;
      ours.add(next);
      model.set(next.spanId, next);
    }
    expect(ours.size).toBe(20);
  });
});
