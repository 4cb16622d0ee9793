import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isOtlpDecodeError, type OtlpDecodeError } from "../src/collector/collector-error.js";
import { decodeTraceRequestJson } from "../src/collector/otlp-json-decoder.js";
import { decodeTraceRequestProtobuf } from "../src/collector/otlp-protobuf-decoder.js";
import type { OtlpSpan } from "../src/collector/otlp-trace-request.js";
import { ProtobufReader } from "../src/collector/protobuf-reader.js";
import { ProtobufWriter } from "../src/collector/protobuf-writer.js";
import { checkoutTrace, checkoutTraceId, epochSeconds } from "./collector-fixtures.js";

const spansOf = (request: ReturnType<typeof decodeTraceRequestProtobuf>): OtlpSpan[] =>
  request.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));

function decodeError(run: () => unknown): OtlpDecodeError {
  try {
    run();
  } catch (error) {
    if (isOtlpDecodeError(error)) return error;
    throw error;
  }
  throw new Error("expected an OtlpDecodeError");
}

const nanos = (ms: number, extra = 0): bigint =>
  BigInt(epochSeconds) * 1_000_000_000n + BigInt(ms) * 1_000_000n + BigInt(extra);

/** A hand-built ExportTraceServiceRequest around one encoded span. */
function oneSpanRequest(span: ProtobufWriter | Uint8Array): Buffer {
  const scopeSpans = new ProtobufWriter().bytes(2, span instanceof ProtobufWriter ? span.finish() : span);
  const resourceSpans = new ProtobufWriter().message(2, scopeSpans);
  return new ProtobufWriter().message(1, resourceSpans).finish();
}

const validSpan = (): ProtobufWriter =>
  new ProtobufWriter()
    .bytes(1, Buffer.from(checkoutTraceId, "hex"))
    .bytes(2, Buffer.from("0102030405060708", "hex"))
    .string(5, "op");

describe("decodeTraceRequestProtobuf", () => {
  it("decodes what the OpenTelemetry SDK's protobuf serializer writes, field for field", async () => {
    const sdkSpans = await checkoutTrace();
    const bytes = ProtobufTraceSerializer.serializeRequest(sdkSpans)!;
    const request = decodeTraceRequestProtobuf(bytes);

    expect(request.resourceSpans.map((rs) => rs.resource.attributes["service.name"]).sort()).toEqual([
      "frontend",
      "orders",
      "payments",
    ]);
    expect(request.resourceSpans[0]!.resource.attributes["service.version"]).toBe("1.2.3");
    expect(request.resourceSpans[0]!.scopeSpans[0]!.scope).toEqual({
      name: "checkout-test",
      version: "0.1.0",
    });
    const spans = spansOf(request);
    expect(spans).toHaveLength(6);
    const byName = new Map(spans.map((s) => [`${s.name}#${s.kind}`, s]));

    const root = byName.get("GET /checkout#2")!;
    expect(root).toMatchObject({
      traceId: checkoutTraceId,
      spanId: "0000000000000001",
      parentSpanId: "",
      kind: 2,
      startTimeUnixNano: nanos(0),
      endTimeUnixNano: nanos(120),
      status: { code: 0, message: "" },
    });
    expect(root.flags & 0xff).toBe(1);

    const insert = byName.get("db insert#1")!;
    expect(insert.parentSpanId).toBe("0000000000000003");
    expect(insert.endTimeUnixNano).toBe(nanos(40, 123));
    expect({ ...insert.attributes }).toEqual({
      "db.system": "postgresql",
      "db.rows": 3,
      "db.ratio": 0.25,
      "db.ok": true,
      "db.tags": ["a", "b"],
      "db.ids": [1, 2, 3],
    });

    const pay = byName.get("charge#2")!;
    expect(pay).toMatchObject({ spanId: "0000000000000006", parentSpanId: "0000000000000005" });
    expect(pay.status).toEqual({ code: 2, message: "card declined" });
    expect(pay.events).toHaveLength(1);
    expect(pay.events[0]).toMatchObject({ name: "card checked", timeUnixNano: nanos(60) });
    expect({ ...pay.events[0]!.attributes }).toEqual({ "card.brand": "visa" });
    expect(pay.links).toHaveLength(1);
    expect(pay.links[0]).toMatchObject({ traceId: checkoutTraceId, spanId: "0000000000000004" });
    expect({ ...pay.links[0]!.attributes }).toEqual({ why: "audit" });
  });

  it("agrees with the JSON decoder on the SDK's JSON serialization of the same spans", async () => {
    const sdkSpans = await checkoutTrace();
    const fromProtobuf = decodeTraceRequestProtobuf(ProtobufTraceSerializer.serializeRequest(sdkSpans)!);
    const fromJson = decodeTraceRequestJson(JsonTraceSerializer.serializeRequest(sdkSpans)!);
    const normalize = (spans: OtlpSpan[]) =>
      spans
        .map((s) => ({
          ...s,
          attributes: { ...s.attributes },
          events: s.events.map((e) => ({ ...e, attributes: { ...e.attributes } })),
          links: s.links.map((l) => ({ ...l, attributes: { ...l.attributes } })),
        }))
        .sort((a, b) => a.spanId.localeCompare(b.spanId));
    expect(normalize(spansOf(fromJson))).toEqual(normalize(spansOf(fromProtobuf)));
  });

  it("decodes nested arrays, key-value lists, bytes and 64-bit integers of every size", () => {
    const kv = (key: string, value: ProtobufWriter | Uint8Array) =>
      new ProtobufWriter().string(1, key).bytes(2, value instanceof ProtobufWriter ? value.finish() : value);
    /** An AnyValue holding `n` as int64: a two's complement varint. */
    const int64 = (n: bigint): Buffer => {
      const bytes: number[] = [];
      let v = BigInt.asUintN(64, n);
      do {
        const low = Number(v & 0x7fn);
        v >>= 7n;
        bytes.push(v === 0n ? low : low | 0x80);
      } while (v !== 0n);
      return Buffer.from([3 << 3, ...bytes]);
    };
    const stringValue = (text: string) => new ProtobufWriter().string(1, text);
    const list = new ProtobufWriter().message(5, new ProtobufWriter().message(1, stringValue("x")));
    const kvlist = new ProtobufWriter().message(
      6,
      new ProtobufWriter().message(1, kv("list", list)).message(1, kv("empty", new ProtobufWriter())),
    );
    const span = validSpan()
      .message(9, kv("negative", int64(-5n)))
      .message(9, kv("huge", int64(2n ** 62n)))
      .message(9, kv("min", int64(-(2n ** 63n))))
      .message(9, kv("bytes", new ProtobufWriter().bytes(7, Buffer.from([0, 1, 255]))))
      .message(9, kv("nested", kvlist))
      .message(9, kv("__proto__", stringValue("just a key")));
    const [decoded] = spansOf(decodeTraceRequestProtobuf(oneSpanRequest(span)));
    const attributes = decoded!.attributes;
    expect(attributes.negative).toBe(-5);
    expect(attributes.huge).toBe(2n ** 62n);
    expect(attributes.min).toBe(-(2n ** 63n));
    expect(attributes.bytes).toEqual(new Uint8Array([0, 1, 255]));
    expect(JSON.parse(JSON.stringify(attributes.nested))).toEqual({ list: ["x"], empty: null });
    expect(Object.hasOwn(attributes, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(attributes, "__proto__")?.value).toBe("just a key");
  });

  it("skips unknown fields of every wire type", () => {
    const tag = (field: number, wire: number) => {
      const v = field * 8 + wire;
      return v < 128 ? [v] : [(v & 0x7f) | 0x80, v >> 7];
    };
    const unknowns = Buffer.from([
      ...tag(99, 0),
      0xb9,
      0x60, // varint
      ...tag(100, 2),
      3,
      0x61,
      0x62,
      0x63, // length-delimited
      ...tag(101, 1),
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // fixed64
      ...tag(102, 5),
      1,
      2,
      3,
      4, // fixed32
    ]);
    const spanBytes = Buffer.concat([validSpan().finish(), unknowns]);
    const request = Buffer.concat([oneSpanRequest(spanBytes), unknowns]);
    const [decoded] = spansOf(decodeTraceRequestProtobuf(request));
    expect(decoded).toMatchObject({ traceId: checkoutTraceId, spanId: "0102030405060708", name: "op" });
  });

  it("decodes an empty request to no spans", () => {
    expect(decodeTraceRequestProtobuf(new Uint8Array())).toEqual({ resourceSpans: [] });
  });

  it.each([
    {
      case: "a trace id of 15 bytes",
      bytes: () => oneSpanRequest(new ProtobufWriter().bytes(1, Buffer.alloc(15, 1))),
      path: "resource_spans[0].scope_spans[0].spans[0].trace_id",
      reason: /expected 16 bytes, got 15/,
    },
    {
      case: "a span id of 9 bytes",
      bytes: () => oneSpanRequest(new ProtobufWriter().bytes(2, Buffer.alloc(9, 1))),
      path: "resource_spans[0].scope_spans[0].spans[0].span_id",
      reason: /expected 8 bytes, got 9/,
    },
    {
      case: "a parent span id of 4 bytes",
      bytes: () => oneSpanRequest(new ProtobufWriter().bytes(4, Buffer.alloc(4, 1))),
      path: "resource_spans[0].scope_spans[0].spans[0].parent_span_id",
      reason: /expected 8 bytes, got 4/,
    },
    {
      case: "a name sent as a varint",
      bytes: () => oneSpanRequest(new ProtobufWriter().varint(5, 1)),
      path: "resource_spans[0].scope_spans[0].spans[0].name",
      reason: /wire type varint, expected length-delimited/,
    },
    {
      case: "a group wire type",
      bytes: () => Buffer.from([(1 << 3) | 3]),
      path: "",
      reason: /start-group wire type, which is not supported/,
    },
    {
      case: "field number 0",
      bytes: () => Buffer.from([0x02, 0x00]),
      path: "",
      reason: /invalid field tag/,
    },
    {
      case: "a varint longer than 10 bytes",
      bytes: () => oneSpanRequest(Buffer.from([6 << 3, ...Array(11).fill(0xff)])),
      path: "resource_spans[0].scope_spans[0].spans[0]",
      reason: /varint longer than 10 bytes/,
    },
  ])("fails with a coded error naming the field for $case", ({ bytes, path, reason }) => {
    const error = decodeError(() => decodeTraceRequestProtobuf(bytes()));
    expect(error.code).toBe("FLT_COLLECTOR_DECODE");
    expect(error.path).toBe(path);
    expect(error.reason).toMatch(reason);
  });

  it("fails on every truncation of a real request, naming where", async () => {
    const bytes = ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!;
    let failures = 0;
    for (let end = 1; end < bytes.length; end++) {
      try {
        decodeTraceRequestProtobuf(bytes.subarray(0, end));
      } catch (error) {
        expect(isOtlpDecodeError(error)).toBe(true);
        failures++;
      }
    }
    // A cut that lands between two top-level messages is a valid shorter request; all others fail.
    expect(failures).toBeGreaterThan(bytes.length - 5);
    const error = decodeError(() => decodeTraceRequestProtobuf(bytes.subarray(0, bytes.length - 1)));
    expect(error.message).toMatch(/^resource_spans\[2\]: truncated: length \d+ exceeds the \d+ bytes left/);
  });

  it("refuses attribute values nested deeper than the bound, without exhausting the stack", () => {
    let value = new ProtobufWriter().string(1, "leaf");
    for (let i = 0; i < 1000; i++)
      value = new ProtobufWriter().message(5, new ProtobufWriter().message(1, value));
    const span = validSpan().message(9, new ProtobufWriter().string(1, "deep").message(2, value));
    const error = decodeError(() => decodeTraceRequestProtobuf(oneSpanRequest(span)));
    expect(error.reason).toBe("attribute value nested deeper than 16 levels");
    expect(error.path).toMatch(
      /^resource_spans\[0\]\.scope_spans\[0\]\.spans\[0\]\.attributes\[0\]\.value\.array_value/,
    );
  });

  it("keeps no reference to the request buffer", () => {
    const span = validSpan().message(
      9,
      new ProtobufWriter().string(1, "b").message(2, new ProtobufWriter().bytes(7, Buffer.from([9]))),
    );
    const bytes = oneSpanRequest(span);
    const [decoded] = spansOf(decodeTraceRequestProtobuf(bytes));
    const kept = decoded!.attributes.b as Uint8Array;
    expect(kept.buffer).not.toBe(bytes.buffer);
    bytes.fill(0);
    expect(kept).toEqual(new Uint8Array([9]));
  });

  describe("never throws anything but its coded decode error", () => {
    const onlyDecodeErrors = (bytes: Uint8Array): boolean => {
      try {
        decodeTraceRequestProtobuf(bytes);
      } catch (error) {
        if (!isOtlpDecodeError(error)) throw error;
      }
      return true;
    };

    it("on random bytes", () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), onlyDecodeErrors), { numRuns: 2000 });
    });

    it("on real requests with random bytes overwritten, inserted or cut", async () => {
      const valid = ProtobufTraceSerializer.serializeRequest(await checkoutTrace())!;
      const mutated = fc
        .tuple(
          fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), {
            maxLength: 8,
          }),
          fc.nat({ max: valid.length }),
          fc.uint8Array({ maxLength: 16 }),
          fc.nat({ max: valid.length }),
        )
        .map(([writes, insertAt, inserted, cut]) => {
          const copy = Buffer.from(valid);
          for (const [i, b] of writes) copy[i] = b;
          return Buffer.concat([copy.subarray(0, insertAt), inserted, copy.subarray(insertAt)]).subarray(
            0,
            cut + inserted.length,
          );
        });
      fc.assert(fc.property(mutated, onlyDecodeErrors), { numRuns: 3000 });
    });
  });
});

describe("ProtobufReader", () => {
  it("reads the wire types at their bounds", () => {
    const bytes = Buffer.from([
      0xff,
      0xff,
      0xff,
      0xff,
      0x0f, // uint32 max
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x01, // int64 min (10 bytes)
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0x80, // fixed64 2^63 + 1
    ]);
    const reader = new ProtobufReader(bytes);
    expect(reader.uint32()).toBe(0xffffffff);
    expect(reader.int64()).toBe(-(2n ** 63n));
    expect(reader.fixed64()).toBe(2n ** 63n + 1n);
    expect(reader.done).toBe(true);
    expect(() => reader.fixed32()).toThrow(/truncated: 4 bytes needed, 0 left/);
  });

  describe("strings", () => {
    /** `values` as consecutive length-delimited strings, each length in one byte. */
    function encoded(values: readonly (string | Buffer)[]): Buffer {
      return Buffer.concat(
        values.flatMap((value) => {
          const bytes = typeof value === "string" ? Buffer.from(value) : value;
          return [Buffer.from([bytes.length]), bytes];
        }),
      );
    }

    function readAll(bytes: Buffer): string[] {
      const reader = new ProtobufReader(bytes);
      const strings: string[] = [];
      while (!reader.done) strings.push(reader.string());
      return strings;
    }

    it("reads repeated, short, long, empty and non-ASCII strings as UTF-8", () => {
      const long = "x".repeat(100);
      const values = ["GET", "http.request.method", "GET", "", "héllo wörld", long, "/hello", "GET", long];
      expect(readAll(encoded(values))).toEqual(values);
    });

    it("turns invalid UTF-8 into U+FFFD, also in a short string", () => {
      expect(readAll(encoded([Buffer.from([0x61, 0xc3]), Buffer.from([0xff])]))).toEqual([
        "a\ufffd",
        "\ufffd",
      ]);
    });

    it("reads a string whose hash collides with one read before as itself", () => {
      // Both have the FNV-1a hash 0xaa0aede4, the key of the table that short strings are shared through.
      const values = ["key-901258", "key-1540052", "key-901258", "key-1540052"];
      expect(readAll(encoded(values))).toEqual(values);
    });

    it("reads any string, repeated in any order, as Buffer.toString does", () => {
      fc.assert(
        fc.property(fc.array(fc.string({ maxLength: 40, unit: "binary" }), { maxLength: 20 }), (values) => {
          const bytes = values.map((value) => Buffer.from(value)).filter((b) => b.length < 128);
          const all = [...bytes, ...bytes.toReversed()];
          expect(readAll(encoded(all))).toEqual(all.map((b) => b.toString("utf8")));
        }),
      );
    });
  });

  it("refuses a length prefix longer than what is left", () => {
    const reader = new ProtobufReader(Buffer.from([0x05, 1, 2]));
    expect(() => reader.string()).toThrow(/length 5 exceeds the 2 bytes left/);
  });
});
