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
import { ProtobufReader, WireType } from "./protobuf-reader.js";

// Field numbers from opentelemetry-proto: collector/trace/v1/trace_service.proto,
// trace/v1/trace.proto, resource/v1/resource.proto and common/v1/common.proto.

/**
 * Decodes a protobuf-encoded OTLP `ExportTraceServiceRequest`. Unknown fields are skipped by wire
 * type, as proto3 requires; a known field with the wrong wire type, a truncated or malformed value,
 * an identifier of the wrong length (other than empty) and attribute values nested deeper than
 * {@link maxAttributeDepth} fail with an {@link OtlpDecodeError} whose path uses the proto field
 * names (`resource_spans[0].scope_spans[0].spans[2].trace_id`). It never throws anything else.
 */
export function decodeTraceRequestProtobuf(bytes: Uint8Array): OtlpTraceRequest {
  const reader = new ProtobufReader(bytes);
  const resourceSpans: OtlpResourceSpans[] = [];
  while (!reader.done) {
    const tag = reader.tag();
    if (tag >>> 3 === 1) {
      resourceSpans.push(nested(reader, tag, "resource_spans", decodeResourceSpans, resourceSpans.length));
    } else reader.skip(tag & 7);
  }
  return { resourceSpans };
}

function decodeResourceSpans(reader: ProtobufReader): OtlpResourceSpans {
  let resource: OtlpResource = { attributes: emptyAttributes(), droppedAttributesCount: 0 };
  const scopeSpans: OtlpScopeSpans[] = [];
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        resource = nested(reader, tag, "resource", decodeResource);
        break;
      case 2:
        scopeSpans.push(nested(reader, tag, "scope_spans", decodeScopeSpans, scopeSpans.length));
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return { resource, scopeSpans };
}

function decodeResource(reader: ProtobufReader): OtlpResource {
  const attributes = emptyAttributes();
  let droppedAttributesCount = 0;
  let index = 0;
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        expectWireType(reader, tag, WireType.LengthDelimited, "attributes");
        decodeKeyValueInto(reader, attributes, "attributes", index++, 0);
        break;
      case 2:
        expectWireType(reader, tag, WireType.Varint, "dropped_attributes_count");
        droppedAttributesCount = reader.uint32();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return { attributes, droppedAttributesCount };
}

function decodeScopeSpans(reader: ProtobufReader): OtlpScopeSpans {
  let scope: OtlpInstrumentationScope = { name: "", version: "" };
  const spans: OtlpSpan[] = [];
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        scope = nested(reader, tag, "scope", decodeScope);
        break;
      case 2:
        spans.push(nested(reader, tag, "spans", decodeSpan, spans.length));
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return { scope, spans };
}

function decodeScope(reader: ProtobufReader): OtlpInstrumentationScope {
  let name = "";
  let version = "";
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        expectWireType(reader, tag, WireType.LengthDelimited, "name");
        name = reader.string();
        break;
      case 2:
        expectWireType(reader, tag, WireType.LengthDelimited, "version");
        version = reader.string();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return { name, version };
}

// Most spans have no events, no links and an unset status: they share these frozen values, which
// saves three objects per stored span.
const noEvents: readonly OtlpSpanEvent[] = Object.freeze([]);
const noLinks: readonly OtlpSpanLink[] = Object.freeze([]);
const unsetStatus: OtlpStatus = Object.freeze({ code: 0, message: "" });

function decodeSpan(reader: ProtobufReader): OtlpSpan {
  let traceId = "";
  let spanId = "";
  let traceState = "";
  let parentSpanId = "";
  let flags = 0;
  let name = "";
  let kind = 0;
  let startTimeUnixNano = 0n;
  let endTimeUnixNano = 0n;
  const attributes = emptyAttributes();
  let attributeIndex = 0;
  let droppedAttributesCount = 0;
  let events: OtlpSpanEvent[] | undefined;
  let droppedEventsCount = 0;
  let links: OtlpSpanLink[] | undefined;
  let droppedLinksCount = 0;
  let status: OtlpStatus = unsetStatus;
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        expectWireType(reader, tag, WireType.LengthDelimited, "trace_id");
        traceId = reader.hex(16, "trace_id");
        break;
      case 2:
        expectWireType(reader, tag, WireType.LengthDelimited, "span_id");
        spanId = reader.hex(8, "span_id");
        break;
      case 3:
        expectWireType(reader, tag, WireType.LengthDelimited, "trace_state");
        traceState = reader.string();
        break;
      case 4:
        expectWireType(reader, tag, WireType.LengthDelimited, "parent_span_id");
        parentSpanId = reader.hex(8, "parent_span_id");
        break;
      case 5:
        expectWireType(reader, tag, WireType.LengthDelimited, "name");
        name = reader.string();
        break;
      case 6:
        expectWireType(reader, tag, WireType.Varint, "kind");
        kind = reader.uint32();
        break;
      case 7:
        expectWireType(reader, tag, WireType.Fixed64, "start_time_unix_nano");
        startTimeUnixNano = reader.fixed64();
        break;
      case 8:
        expectWireType(reader, tag, WireType.Fixed64, "end_time_unix_nano");
        endTimeUnixNano = reader.fixed64();
        break;
      case 9:
        expectWireType(reader, tag, WireType.LengthDelimited, "attributes");
        decodeKeyValueInto(reader, attributes, "attributes", attributeIndex++, 0);
        break;
      case 10:
        expectWireType(reader, tag, WireType.Varint, "dropped_attributes_count");
        droppedAttributesCount = reader.uint32();
        break;
      case 11: {
        const event = nested(reader, tag, "events", decodeEvent, events?.length ?? 0);
        if (events === undefined) events = [event];
        else events.push(event);
        break;
      }
      case 12:
        expectWireType(reader, tag, WireType.Varint, "dropped_events_count");
        droppedEventsCount = reader.uint32();
        break;
      case 13: {
        const link = nested(reader, tag, "links", decodeLink, links?.length ?? 0);
        if (links === undefined) links = [link];
        else links.push(link);
        break;
      }
      case 14:
        expectWireType(reader, tag, WireType.Varint, "dropped_links_count");
        droppedLinksCount = reader.uint32();
        break;
      case 15:
        status = nested(reader, tag, "status", decodeStatus);
        break;
      case 16:
        expectWireType(reader, tag, WireType.Fixed32, "flags");
        flags = reader.fixed32();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return {
    traceId,
    spanId,
    traceState,
    parentSpanId,
    flags,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes,
    droppedAttributesCount,
    events: events ?? noEvents,
    droppedEventsCount,
    links: links ?? noLinks,
    droppedLinksCount,
    status,
  };
}

function decodeEvent(reader: ProtobufReader): OtlpSpanEvent {
  let timeUnixNano = 0n;
  let name = "";
  const attributes = emptyAttributes();
  let index = 0;
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        expectWireType(reader, tag, WireType.Fixed64, "time_unix_nano");
        timeUnixNano = reader.fixed64();
        break;
      case 2:
        expectWireType(reader, tag, WireType.LengthDelimited, "name");
        name = reader.string();
        break;
      case 3:
        expectWireType(reader, tag, WireType.LengthDelimited, "attributes");
        decodeKeyValueInto(reader, attributes, "attributes", index++, 0);
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return { timeUnixNano, name, attributes };
}

function decodeLink(reader: ProtobufReader): OtlpSpanLink {
  let traceId = "";
  let spanId = "";
  let traceState = "";
  const attributes = emptyAttributes();
  let index = 0;
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        expectWireType(reader, tag, WireType.LengthDelimited, "trace_id");
        traceId = reader.hex(16, "trace_id");
        break;
      case 2:
        expectWireType(reader, tag, WireType.LengthDelimited, "span_id");
        spanId = reader.hex(8, "span_id");
        break;
      case 3:
        expectWireType(reader, tag, WireType.LengthDelimited, "trace_state");
        traceState = reader.string();
        break;
      case 4:
        expectWireType(reader, tag, WireType.LengthDelimited, "attributes");
        decodeKeyValueInto(reader, attributes, "attributes", index++, 0);
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return { traceId, spanId, traceState, attributes };
}

function decodeStatus(reader: ProtobufReader): OtlpStatus {
  let code = 0;
  let message = "";
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 2:
        expectWireType(reader, tag, WireType.LengthDelimited, "message");
        message = reader.string();
        break;
      case 3:
        expectWireType(reader, tag, WireType.Varint, "code");
        code = reader.uint32();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return code === 0 && message === "" ? unsetStatus : { code, message };
}

/** Reads one length-delimited `KeyValue` from `reader` into `target`; the last of a repeated key wins. */
function decodeKeyValueInto(
  reader: ProtobufReader,
  target: Record<string, AttributeValue>,
  field: string,
  index: number,
  depth: number,
): void {
  try {
    const outer = reader.enter();
    let key = "";
    let value: AttributeValue = null;
    while (!reader.done) {
      const tag = reader.tag();
      switch (tag >>> 3) {
        case 1:
          expectWireType(reader, tag, WireType.LengthDelimited, "key");
          key = reader.string();
          break;
        case 2:
          expectWireType(reader, tag, WireType.LengthDelimited, "value");
          try {
            const limit = reader.enter();
            value = decodeAnyValue(reader, depth);
            reader.leave(limit);
          } catch (error) {
            throw within(error, "value");
          }
          break;
        default:
          reader.skip(tag & 7);
      }
    }
    reader.leave(outer);
    target[key] = value;
  } catch (error) {
    // The path segment is built only on failure: a template string per attribute is measurable.
    throw within(error, `${field}[${index}]`);
  }
}

function decodeAnyValue(reader: ProtobufReader, depth: number): AttributeValue {
  let value: AttributeValue = null;
  while (!reader.done) {
    const tag = reader.tag();
    switch (tag >>> 3) {
      case 1:
        expectWireType(reader, tag, WireType.LengthDelimited, "string_value");
        value = reader.string();
        break;
      case 2:
        expectWireType(reader, tag, WireType.Varint, "bool_value");
        value = reader.bool();
        break;
      case 3:
        expectWireType(reader, tag, WireType.Varint, "int_value");
        value = reader.int64();
        break;
      case 4:
        expectWireType(reader, tag, WireType.Fixed64, "double_value");
        value = reader.double();
        break;
      case 5:
        expectWireType(reader, tag, WireType.LengthDelimited, "array_value");
        checkDepth(depth, "array_value");
        try {
          const limit = reader.enter();
          value = decodeArrayValue(reader, depth + 1);
          reader.leave(limit);
        } catch (error) {
          throw within(error, "array_value");
        }
        break;
      case 6:
        expectWireType(reader, tag, WireType.LengthDelimited, "kvlist_value");
        checkDepth(depth, "kvlist_value");
        try {
          const limit = reader.enter();
          value = decodeKeyValueList(reader, depth + 1);
          reader.leave(limit);
        } catch (error) {
          throw within(error, "kvlist_value");
        }
        break;
      case 7:
        expectWireType(reader, tag, WireType.LengthDelimited, "bytes_value");
        value = reader.bytes();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return value;
}

function decodeArrayValue(reader: ProtobufReader, depth: number): AttributeValue[] {
  const values: AttributeValue[] = [];
  while (!reader.done) {
    const tag = reader.tag();
    if (tag >>> 3 === 1) {
      expectWireType(reader, tag, WireType.LengthDelimited, "values");
      try {
        const limit = reader.enter();
        values.push(decodeAnyValue(reader, depth));
        reader.leave(limit);
      } catch (error) {
        throw within(error, `values[${values.length}]`);
      }
    } else reader.skip(tag & 7);
  }
  return values;
}

function decodeKeyValueList(reader: ProtobufReader, depth: number): Attributes {
  const values = emptyAttributes();
  let index = 0;
  while (!reader.done) {
    const tag = reader.tag();
    if (tag >>> 3 === 1) {
      expectWireType(reader, tag, WireType.LengthDelimited, "values");
      decodeKeyValueInto(reader, values, "values", index++, depth);
    } else reader.skip(tag & 7);
  }
  return values;
}

function checkDepth(depth: number, field: string): void {
  if (depth >= maxAttributeDepth) {
    throw new OtlpDecodeError(field, `attribute value nested deeper than ${maxAttributeDepth} levels`);
  }
}

function expectWireType(reader: ProtobufReader, tag: number, expected: number, field: string): void {
  if ((tag & 7) !== expected) reader.wrongWireType(tag, field, expected);
}

/**
 * Decodes the length-delimited field `field` (the `index`th of a repeated one) with `decode`,
 * naming the field in any decode error's path.
 */
function nested<T>(
  reader: ProtobufReader,
  tag: number,
  field: string,
  decode: (reader: ProtobufReader) => T,
  index?: number,
): T {
  expectWireType(reader, tag, WireType.LengthDelimited, field);
  try {
    const limit = reader.enter();
    const value = decode(reader);
    reader.leave(limit);
    return value;
  } catch (error) {
    throw within(error, index === undefined ? field : `${field}[${index}]`);
  }
}

function within(error: unknown, segment: string): unknown {
  return isOtlpDecodeError(error) ? error.within(segment) : error;
}
