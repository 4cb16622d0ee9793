import { type Context, isSpanContextValid, propagation, type TextMapSetter, trace } from "@opentelemetry/api";
import { isTracingSuppressed } from "@opentelemetry/core";
import type { HeadSampling } from "./head-sampling.js";
import { emptyContext } from "./linked-context.js";

// https://www.w3.org/TR/trace-context/#traceparent-header: version 00 is exactly
// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower-case, ids not all zeros.
const traceparentLength = 55;
const traceIdStart = 3;
const spanIdStart = 36;
const flagsStart = 53;

/** 1 for the lower-case hex digits that W3C Trace Context allows, by char code. */
const lowerHex = new Uint8Array(128);
for (const c of "0123456789abcdef") lowerHex[c.charCodeAt(0)] = 1;

/**
 * The remote parent in `carrier` when it carries a `traceparent` of version 00 in its canonical
 * form and none of the other headers the standard propagator reads (`tracestate`, `baggage`, B3):
 * the context `propagation.extract(ROOT_CONTEXT, carrier)` would return, built without running
 * the three propagators, their regular expressions and their context copies. `undefined` when
 * that does not apply (any other case, valid or not, is left to the propagator).
 * @internal
 */
export function extractTraceparent(
  sampling: HeadSampling | undefined,
  carrier: Readonly<Record<string, unknown>>,
): Context | undefined {
  const standard = sampling?.standard;
  if (standard === undefined || !standard.headers.onlyHas(carrier, "traceparent")) return undefined;
  const value = carrier.traceparent;
  if (typeof value !== "string" || value.length !== traceparentLength) return undefined;
  if (value.charCodeAt(0) !== 48 || value.charCodeAt(1) !== 48) return undefined;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45)
    return undefined;
  if (!hexRun(value, traceIdStart, spanIdStart - 1) || !hexRun(value, spanIdStart, flagsStart - 1))
    return undefined;
  if (!hexRun(value, flagsStart, traceparentLength, true)) return undefined;
  return trace.setSpanContext(emptyContext, {
    traceId: value.slice(traceIdStart, spanIdStart - 1),
    spanId: value.slice(spanIdStart, flagsStart - 1),
    traceFlags: Number.parseInt(value.slice(flagsStart), 16),
    isRemote: true,
  });
}

/** True when `value[from, to)` is lower-case hex and, unless `zeroAllowed`, not all zeros. */
function hexRun(value: string, from: number, to: number, zeroAllowed = false): boolean {
  let nonZero = zeroAllowed;
  for (let i = from; i < to; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || lowerHex[code] === 0) return false;
    if (code !== 48) nonZero = true;
  }
  return nonZero;
}

/**
 * Writes what the standard propagator would write for `ctx` when it injects W3C trace context
 * only (no B3) and `ctx` holds no baggage and a span context without trace state: `traceparent`,
 * or nothing for a suppressed context or no valid span. Returns false, having written nothing,
 * when that does not apply and the propagator must inject.
 * @internal
 */
export function injectTraceparent<C>(
  sampling: HeadSampling | undefined,
  ctx: Context,
  carrier: C,
  setter: TextMapSetter<C>,
): boolean {
  const standard = sampling?.standard;
  if (standard === undefined || standard.injectsB3 || propagation.getBaggage(ctx) !== undefined) return false;
  const spanContext = trace.getSpanContext(ctx);
  if (spanContext === undefined || isTracingSuppressed(ctx) || !isSpanContextValid(spanContext)) return true;
  if (spanContext.traceState !== undefined) return false;
  const flags = (spanContext.traceFlags || 0).toString(16);
  setter.set(carrier, "traceparent", `00-${spanContext.traceId}-${spanContext.spanId}-0${flags}`);
  return true;
}
