import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { describe, expect, it } from "vitest";
import { isOtlpDecodeError, type OtlpDecodeError } from "../src/collector/collector-error.js";
import { decodeTraceRequestJson } from "../src/collector/otlp-json-decoder.js";
import { checkoutTrace, checkoutTraceId } from "./collector-fixtures.js";

function decodeError(run: () => unknown): OtlpDecodeError {
  try {
    run();
  } catch (error) {
    if (isOtlpDecodeError(error)) return error;
    throw error;
  }
  throw new Error("expected an OtlpDecodeError");
}

const request = (span: Record<string, unknown>, resource: Record<string, unknown> = {}) =>
  JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: "s" }, spans: [span] }] }] });

const firstSpan = (text: string) => decodeTraceRequestJson(text).resourceSpans[0]!.scopeSpans[0]!.spans[0]!;

describe("decodeTraceRequestJson", () => {
  it("decodes the SDK's OTLP/JSON serialization", async () => {
    const bytes = JsonTraceSerializer.serializeRequest(await checkoutTrace())!;
    const decoded = decodeTraceRequestJson(bytes);
    const spans = decoded.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    expect(spans.map((s) => s.name).sort()).toEqual([
      "GET /checkout",
      "POST /orders",
      "POST orders",
      "charge",
      "charge",
      "db insert",
    ]);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([checkoutTraceId]));
  });

  it("reads the proto3 JSON mapping: hex ids in either case, 64-bit integers as strings or numbers, enums as integers", () => {
    const span = firstSpan(
      request(
        {
          traceId: checkoutTraceId.toUpperCase(),
          spanId: "00F067AA0BA902B7",
          parentSpanId: "",
          name: "GET /",
          kind: 2,
          startTimeUnixNano: "1735689600000000001",
          endTimeUnixNano: 1735689600000,
          flags: "257",
          attributes: [
            { key: "big", value: { intValue: "9223372036854775807" } },
            { key: "small", value: { intValue: 42 } },
            { key: "neg", value: { intValue: "-7" } },
            { key: "nan", value: { doubleValue: "NaN" } },
            { key: "d", value: { doubleValue: 1.5 } },
            { key: "b", value: { bytesValue: "AAH/" } },
            { key: "none", value: {} },
            { key: "list", value: { arrayValue: { values: [{ boolValue: false }, { stringValue: "s" }] } } },
            { key: "map", value: { kvlistValue: { values: [{ key: "k", value: { stringValue: "v" } }] } } },
          ],
          status: { code: 2, message: "boom" },
          futureField: { whatever: true },
        },
        { attributes: [{ key: "service.name", value: { stringValue: "api" } }] },
      ),
    );
    expect(span).toMatchObject({
      traceId: checkoutTraceId,
      spanId: "00f067aa0ba902b7",
      parentSpanId: "",
      kind: 2,
      flags: 257,
      startTimeUnixNano: 1735689600000000001n,
      endTimeUnixNano: 1735689600000n,
      status: { code: 2, message: "boom" },
    });
    expect({ ...span.attributes }).toEqual({
      big: 9223372036854775807n,
      small: 42,
      neg: -7,
      nan: Number.NaN,
      d: 1.5,
      b: new Uint8Array([0, 1, 255]),
      none: null,
      list: [false, "s"],
      map: expect.objectContaining({ k: "v" }),
    });
  });

  it("treats null as absent and ignores unknown keys", () => {
    const span = firstSpan(
      request({ traceId: checkoutTraceId, spanId: "0102030405060708", name: null, events: null, x: 1 }),
    );
    expect(span).toMatchObject({ name: "", events: [], kind: 0, startTimeUnixNano: 0n });
  });

  it.each([
    { case: "invalid JSON", body: '{"resourceSpans": [', path: "body", reason: /^invalid JSON: / },
    { case: "a JSON array", body: "[]", path: "body", reason: /expected an object, got an array/ },
    {
      case: "a trace id of 30 hex digits",
      body: request({ traceId: "ab".repeat(15) }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].traceId",
      reason: /expected 32 hex digits \(16 bytes\), got 30/,
    },
    {
      case: "a span id with non-hex digits",
      body: request({ traceId: checkoutTraceId, spanId: "zz02030405060708" }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].spanId",
      reason: /expected hex digits/,
    },
    {
      case: "base64 ids (the pre-1.0 mapping)",
      body: request({ traceId: "S/kvNXezTaajzpKdDg5HNg==" }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].traceId",
      reason: /expected 32 hex digits/,
    },
    {
      case: "a kind given by name",
      body: request({ kind: "SPAN_KIND_SERVER" }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].kind",
      reason: /expected an unsigned 32-bit integer, got "SPAN_KIND_SERVER"/,
    },
    {
      case: "a negative start time",
      body: request({ startTimeUnixNano: "-1" }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
      reason: /expected an unsigned 64-bit integer/,
    },
    {
      case: "a start time past 2^64",
      body: request({ startTimeUnixNano: "18446744073709551616" }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
      reason: /expected an unsigned 64-bit integer/,
    },
    {
      case: "spans that are not an array",
      body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: {} }] }] }),
      path: "resourceSpans[0].scopeSpans[0].spans",
      reason: /expected an array, got an object/,
    },
    {
      case: "an attribute value of the wrong type",
      body: request({ attributes: [{ key: "k", value: { boolValue: "yes" } }] }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue",
      reason: /expected true or false, got "yes"/,
    },
    {
      case: "an int64 attribute past 2^63",
      body: request({ attributes: [{ key: "k", value: { intValue: "9223372036854775808" } }] }),
      path: "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue",
      reason: /expected a 64-bit integer/,
    },
    {
      case: "a resource attribute of the wrong type",
      body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 1 }] } }] }),
      path: "resourceSpans[0].resource.attributes[0].key",
      reason: /expected a string, got number 1/,
    },
  ])("fails with a coded error naming the field for $case", ({ body, path, reason }) => {
    const error = decodeError(() => decodeTraceRequestJson(body));
    expect(error.code).toBe("FLT_COLLECTOR_DECODE");
    expect(error.path).toBe(path);
    expect(error.reason).toMatch(reason);
  });

  it("refuses attribute values nested deeper than the bound", () => {
    let value: Record<string, unknown> = { stringValue: "leaf" };
    for (let i = 0; i < 100; i++) value = { arrayValue: { values: [value] } };
    const error = decodeError(() =>
      decodeTraceRequestJson(request({ attributes: [{ key: "deep", value }] })),
    );
    expect(error.reason).toBe("attribute value nested deeper than 16 levels");
  });

  it("skips a byte order mark", () => {
    expect(decodeTraceRequestJson(`\uFEFF{"resourceSpans":[]}`)).toEqual({ resourceSpans: [] });
  });
});
