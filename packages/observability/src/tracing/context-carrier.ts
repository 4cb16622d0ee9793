import {
  type Context,
  context,
  propagation,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import { registeredHeadSampling } from "./head-sampling.js";
import { linkedRoot } from "./linked-context.js";
import { injectTraceparent } from "./traceparent.js";

/** A `Headers`-like carrier: the Fetch API's `Headers`, undici's, or anything with the same methods. */
export interface HeadersLikeCarrier {
  get(name: string): string | null;
  set(name: string, value: string): void;
  keys(): Iterable<string>;
}

/**
 * Where trace context travels outside HTTP instrumentation: message headers, job metadata, a
 * `Headers` object. Plain objects are read case-insensitively and written with lower-case keys.
 */
export type ContextCarrier = Record<string, string | string[] | undefined> | HeadersLikeCarrier;

/** @internal */
export function isHeadersLike(carrier: ContextCarrier): carrier is HeadersLikeCarrier {
  return typeof (carrier as HeadersLikeCarrier).get === "function";
}

const carrierGetter: TextMapGetter<ContextCarrier> = {
  keys(carrier) {
    return isHeadersLike(carrier) ? [...carrier.keys()] : Object.keys(carrier);
  },
  get(carrier, key) {
    if (isHeadersLike(carrier)) return carrier.get(key) ?? undefined;
    const exact = carrier[key];
    if (exact !== undefined) return exact;
    for (const name of Object.keys(carrier)) {
      if (name.length === key.length && name.toLowerCase() === key) return carrier[name];
    }
    return undefined;
  },
};

const carrierSetter: TextMapSetter<ContextCarrier> = {
  set(carrier, key, value) {
    if (isHeadersLike(carrier)) carrier.set(key, value);
    else carrier[key] = value;
  },
};

/**
 * Writes the trace context and baggage of `ctx` (default: the active context) into `carrier`
 * with the registered propagator (`traceparent`, `tracestate`, `baggage`, and B3 when the
 * telemetry injects it), and returns `carrier`. Writes nothing while no telemetry is active or
 * when `ctx` holds no valid span.
 */
export function injectContext<C extends ContextCarrier>(carrier: C, ctx: Context = context.active()): C {
  if (!injectTraceparent(registeredHeadSampling(), ctx, carrier, carrierSetter)) {
    propagation.inject(ctx, carrier, carrierSetter);
  }
  return carrier;
}

/**
 * Reads the trace context and baggage from `carrier` (W3C, or B3 single or multi) on top of
 * `base` (default: the active context). Run the consumer's work inside the result with
 * `context.with(extractContext(headers), work)` so its spans continue the producer's trace. A
 * malformed or missing header leaves `base` as it is; extraction never throws.
 */
export function extractContext(carrier: ContextCarrier, base: Context = context.active()): Context {
  return propagation.extract(linkedRoot(base), carrier, carrierGetter);
}
