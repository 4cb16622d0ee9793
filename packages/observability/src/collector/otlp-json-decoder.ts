import {
  type Attributes,
  type AttributeValue,
  emptyAttributes,
  maxAttributeDepth,
} from "./attribute-value.js";
import { isOtlpDecodeError, OtlpDecodeError } from "./collector-error.js";
import type {
  OtlpInstrumentationScope,
  OtlpResource,
  OtlpResourceSpans,
  OtlpScopeSpans,
  OtlpSpan,
  OtlpSpanEvent,
  OtlpSpanLink,
  OtlpStatus,
  OtlpTraceRequest,
} from "./otlp-trace-request.js";

type JsonObject = Record<string, unknown>;

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * the proto3 JSON mapping with lowerCamelCase keys, trace and span ids as hex (either case), enums as
 * integers and 64-bit integers as decimal strings or numbers. Unknown keys are ignored, `null` counts
 * as absent. Invalid JSON, a value of the wrong type, ids of the wrong length or with non-hex digits,
 * and attribute values nested deeper than {@link maxAttributeDepth} fail with an {@link OtlpDecodeError}
 * whose path uses the JSON names (`resourceSpans[0].scopeSpans[0].spans[2].traceId`).
 */
export function decodeTraceRequestJson(body: string | Uint8Array): OtlpTraceRequest {
  let text =
    typeof body === "string"
      ? body
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new OtlpDecodeError("body", `invalid JSON: ${(error as Error).message}`, { cause: error });
  }
  const root = object(parsed, "body");
  const resourceSpans = array(root, "resourceSpans").map((item, i) =>
    at(`resourceSpans[${i}]`, () => decodeResourceSpans(object(item, ""))),
  );
  return { resourceSpans };
}

function decodeResourceSpans(json: JsonObject): OtlpResourceSpans {
  const resourceJson = optionalObject(json, "resource");
  const resource: OtlpResource =
    resourceJson === undefined
      ? { attributes: emptyAttributes(), droppedAttributesCount: 0 }
      : at("resource", () => ({
          attributes: attributes(resourceJson, "attributes", 0),
          droppedAttributesCount: uint32(resourceJson, "droppedAttributesCount"),
        }));
  const scopeSpans = array(json, "scopeSpans").map((item, i) =>
    at(`scopeSpans[${i}]`, () => decodeScopeSpans(object(item, ""))),
  );
  return { resource, scopeSpans };
}

function decodeScopeSpans(json: JsonObject): OtlpScopeSpans {
  const scopeJson = optionalObject(json, "scope");
  const scope: OtlpInstrumentationScope =
    scopeJson === undefined
      ? { name: "", version: "" }
      : at("scope", () => ({ name: string(scopeJson, "name"), version: string(scopeJson, "version") }));
  const spans = array(json, "spans").map((item, i) => at(`spans[${i}]`, () => decodeSpan(object(item, ""))));
  return { scope, spans };
}

function decodeSpan(json: JsonObject): OtlpSpan {
  return {
    traceId: hexId(json, "traceId", 16),
    spanId: hexId(json, "spanId", 8),
    traceState: string(json, "traceState"),
    parentSpanId: hexId(json, "parentSpanId", 8),
    flags: uint32(json, "flags"),
    name: string(json, "name"),
    kind: uint32(json, "kind"),
    startTimeUnixNano: fixed64(json, "startTimeUnixNano"),
    endTimeUnixNano: fixed64(json, "endTimeUnixNano"),
    attributes: attributes(json, "attributes", 0),
    droppedAttributesCount: uint32(json, "droppedAttributesCount"),
    events: array(json, "events").map((item, i) => at(`events[${i}]`, () => decodeEvent(object(item, "")))),
    droppedEventsCount: uint32(json, "droppedEventsCount"),
    links: array(json, "links").map((item, i) => at(`links[${i}]`, () => decodeLink(object(item, "")))),
    droppedLinksCount: uint32(json, "droppedLinksCount"),
    status: decodeStatus(json),
  };
}

function decodeEvent(json: JsonObject): OtlpSpanEvent {
  return {
    timeUnixNano: fixed64(json, "timeUnixNano"),
    name: string(json, "name"),
    attributes: attributes(json, "attributes", 0),
  };
}

function decodeLink(json: JsonObject): OtlpSpanLink {
  return {
    traceId: hexId(json, "traceId", 16),
    spanId: hexId(json, "spanId", 8),
    traceState: string(json, "traceState"),
    attributes: attributes(json, "attributes", 0),
  };
}

function decodeStatus(span: JsonObject): OtlpStatus {
  const json = optionalObject(span, "status");
  if (json === undefined) return { code: 0, message: "" };
  return at("status", () => ({ code: uint32(json, "code"), message: string(json, "message") }));
}

function attributes(json: JsonObject, key: string, depth: number): Attributes {
  const target = emptyAttributes();
  array(json, key).forEach((item, i) => {
    at(`${key}[${i}]`, () => {
      const kv = object(item, "");
      const name = string(kv, "key");
      const valueJson = optionalObject(kv, "value");
      target[name] = valueJson === undefined ? null : at("value", () => anyValue(valueJson, depth));
    });
  });
  return target;
}

function anyValue(json: JsonObject, depth: number): AttributeValue {
  if (present(json.stringValue)) return string(json, "stringValue");
  if (present(json.boolValue)) {
    if (typeof json.boolValue !== "boolean") throw wrongType("boolValue", "true or false", json.boolValue);
    return json.boolValue;
  }
  if (present(json.intValue)) return int64(json, "intValue");
  if (present(json.doubleValue)) return double(json, "doubleValue");
  if (present(json.arrayValue)) {
    if (depth >= maxAttributeDepth) throw tooDeep("arrayValue");
    const arrayJson = object(json.arrayValue, "arrayValue");
    return at("arrayValue", () =>
      array(arrayJson, "values").map((item, i) =>
        at(`values[${i}]`, () => anyValue(object(item, ""), depth + 1)),
      ),
    );
  }
  if (present(json.kvlistValue)) {
    if (depth >= maxAttributeDepth) throw tooDeep("kvlistValue");
    const listJson = object(json.kvlistValue, "kvlistValue");
    return at("kvlistValue", () => attributes(listJson, "values", depth + 1));
  }
  if (present(json.bytesValue)) return bytes(json, "bytesValue");
  return null;
}

/** Runs `read`, putting `segment` in front of the path of any decode error it throws. */
function at<T>(segment: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw isOtlpDecodeError(error) ? error.within(segment) : error;
  }
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function object(value: unknown, field: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw wrongType(field, "an object", value);
  }
  return value as JsonObject;
}

function optionalObject(json: JsonObject, key: string): JsonObject | undefined {
  const value = json[key];
  return present(value) ? object(value, key) : undefined;
}

function array(json: JsonObject, key: string): readonly unknown[] {
  const value = json[key];
  if (!present(value)) return [];
  if (!Array.isArray(value)) throw wrongType(key, "an array", value);
  return value;
}

function string(json: JsonObject, key: string): string {
  const value = json[key];
  if (!present(value)) return "";
  if (typeof value !== "string") throw wrongType(key, "a string", value);
  return value;
}

const hexPattern = /^[0-9a-fA-F]*$/;

function hexId(json: JsonObject, key: string, bytes: number): string {
  const value = string(json, key);
  if (value.length !== 0 && value.length !== bytes * 2) {
    throw new OtlpDecodeError(key, `expected ${bytes * 2} hex digits (${bytes} bytes), got ${value.length}`);
  }
  if (!hexPattern.test(value)) throw new OtlpDecodeError(key, `expected hex digits, got "${clip(value)}"`);
  return value.toLowerCase();
}

const unsignedPattern = /^\d{1,20}$/;
const signedPattern = /^-?\d{1,20}$/;
const maxUint64 = 2n ** 64n - 1n;

function uint32(json: JsonObject, key: string): number {
  const value = json[key];
  if (!present(value)) return 0;
  const n = typeof value === "string" && unsignedPattern.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw wrongType(key, "an unsigned 32-bit integer", value);
  }
  return n;
}

function fixed64(json: JsonObject, key: string): bigint {
  const value = json[key];
  if (!present(value)) return 0n;
  let n: bigint | undefined;
  if (typeof value === "string" && unsignedPattern.test(value)) n = BigInt(value);
  else if (typeof value === "number" && Number.isInteger(value) && value >= 0) n = BigInt(value);
  if (n === undefined || n > maxUint64) {
    throw wrongType(key, "an unsigned 64-bit integer (a decimal string or a number)", value);
  }
  return n;
}

function int64(json: JsonObject, key: string): number | bigint {
  const value = json[key];
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && signedPattern.test(value)) {
    const n = BigInt(value);
    if (n >= -(2n ** 63n) && n < 2n ** 63n) {
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
  }
  throw wrongType(key, "a 64-bit integer (a decimal string or a number)", value);
}

const specialDoubles: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

function double(json: JsonObject, key: string): number {
  const value = json[key];
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const special = Object.hasOwn(specialDoubles, value) ? specialDoubles[value] : undefined;
    if (special !== undefined) return special;
    const n = value.trim() === "" ? Number.NaN : Number(value);
    if (Number.isFinite(n)) return n;
  }
  throw wrongType(key, "a number", value);
}

const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytes(json: JsonObject, key: string): Uint8Array {
  const value = json[key];
  if (typeof value !== "string" || !base64Pattern.test(value)) throw wrongType(key, "base64 bytes", value);
  const decoded = Buffer.from(value, "base64");
  const copy = new Uint8Array(decoded.length);
  copy.set(decoded);
  return copy;
}

function tooDeep(field: string): OtlpDecodeError {
  return new OtlpDecodeError(field, `attribute value nested deeper than ${maxAttributeDepth} levels`);
}

function wrongType(field: string, expected: string, value: unknown): OtlpDecodeError {
  return new OtlpDecodeError(field, `expected ${expected}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${clip(value)}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
