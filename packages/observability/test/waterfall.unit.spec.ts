import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { describe, expect, it } from "vitest";
import { collectSpans } from "../src/collector/collect-spans.js";
import type { CollectedSpan } from "../src/collector/collected-span.js";
import { collectorJson } from "../src/collector/collector-json.js";
import { decodeTraceRequestProtobuf } from "../src/collector/otlp-protobuf-decoder.js";
import { spanStore } from "../src/collector/span-store.js";
import type { TraceTree } from "../src/collector/trace-tree.js";
import { traceView } from "../src/collector/trace-view.js";
import { renderWaterfall, type WaterfallTrace } from "../src/collector/waterfall.js";
import { checkoutTrace, checkoutTraceId, makeSpan, traceIdOf } from "./collector-fixtures.js";

async function checkoutTree(): Promise<TraceTree> {
  const store = spanStore();
  store.add(
    collectSpans(decodeTraceRequestProtobuf(ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!))
      .spans,
  );
  return store.getTrace(checkoutTraceId)!;
}

function treeOf(spans: CollectedSpan[]): TraceTree {
  const store = spanStore();
  store.add(spans);
  return store.getTrace(spans[0]!.traceId)!;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes.
const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

describe("renderWaterfall", () => {
  it("draws one line per span: indented by depth, offset, duration, a scaled bar and an error mark", async () => {
    expect(`\n${renderWaterfall(await checkoutTree(), { width: 100 })}`).toMatchInlineSnapshot(`
      "
      trace 4bf92f3577b34da6a3ce929d0e0e4736  6 spans  3 services  120ms  1 error
      frontend GET /checkout        +0ms    120ms │██████████████████████████████████████████████│
        frontend POST orders     +10.0ms   85.0ms │   ██████████████████████████████████         │
          orders POST /orders    +12.0ms   78.0ms │    ███████████████████████████████           │
            orders db insert     +20.0ms   20.0ms │       █████████                              │
            orders charge        +45.0ms   40.0ms │                 ████████████████             │
              payments charge    +47.0ms   33.0ms │                  █████████████               │ ✗ error
      "
    `);
  });

  it("fits the bar to the width it is given", async () => {
    const text = renderWaterfall(await checkoutTree(), { width: 64 });
    expect(`\n${text}`).toMatchInlineSnapshot(`
      "
      trace 4bf92f3577b34da6a3ce929d0e0e4736  6 spans  3 services  120ms  1 error
      frontend GET /checkout        +0ms    120ms │██████████│
        frontend POST orders     +10.0ms   85.0ms │████████  │
          orders POST /orders    +12.0ms   78.0ms │ ███████  │
            orders db insert     +20.0ms   20.0ms │ ███      │
            orders charge        +45.0ms   40.0ms │   █████  │
              payments charge    +47.0ms   33.0ms │   ████   │ ✗ error
      "
    `);
    for (const line of text.trimEnd().split("\n").slice(1)) expect(line.length).toBeLessThanOrEqual(64);
  });

  it("colours services, errors and figures only when asked, without moving anything", async () => {
    const tree = await checkoutTree();
    const plain = renderWaterfall(tree);
    expect(plain).not.toContain("\x1b[");
    const coloured = renderWaterfall(tree, { colors: true });
    expect(coloured).toContain("\x1b[31m✗ error\x1b[0m");
    expect(coloured).toContain("\x1b[36mfrontend\x1b[0m GET /checkout");
    expect(stripAnsi(coloured)).toBe(plain);
  });

  it("draws the query API's JSON the same as the tree it came from", async () => {
    const tree = await checkoutTree();
    const fromJson = JSON.parse(collectorJson(traceView(tree))) as WaterfallTrace;
    expect(renderWaterfall(fromJson)).toBe(renderWaterfall(tree));
  });

  it("marks orphans, replaces control characters and keeps deep trees within the label column", () => {
    const traceId = traceIdOf(42);
    const root = makeSpan({ traceId, service: "gw", name: "GET /\u001b[2Jevil", startAt: 0, endAt: 10 });
    const chain: CollectedSpan[] = [root];
    for (let i = 1; i <= 30; i++) {
      chain.push(
        makeSpan({
          traceId,
          service: "svc",
          name: `level ${i}`,
          startAt: i * 0.25,
          endAt: 10 - i * 0.25,
          parentSpanId: chain[i - 1]!.spanId,
        }),
      );
    }
    const orphan = makeSpan({
      traceId,
      service: "late",
      name: "orphan",
      startAt: 9,
      endAt: 9.5,
      parentSpanId: "00000000000000ff",
    });
    const text = renderWaterfall(treeOf([...chain, orphan]), { width: 80, header: false });
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(32);
    expect(lines[0]).toMatch(/^gw GET \/\uFFFD\[2Jevil/);
    expect(text).not.toContain("\u001b");
    expect(lines.at(-1)).toMatch(/^late orphan .*│ orphan$/);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    // Indentation stops growing before it eats the names.
    expect(lines[1]).toMatch(/^ {2}svc level 1 /);
    expect(lines[12]).toMatch(/^ {24}svc lev… /);
    expect(lines[30]).toMatch(/^ {24}svc lev… /);
  });

  it("draws a single instantaneous span", () => {
    const span = makeSpan({ traceId: traceIdOf(1), service: "s", name: "tick", startAt: 5, endAt: 5 });
    expect(renderWaterfall(treeOf([span]), { width: 60 })).toMatchInlineSnapshot(`
      "trace 00000000000000000000000000000001  1 span  1 service  0ms
      s tick             +0ms      0ms │█                        │
      "
    `);
  });
});
