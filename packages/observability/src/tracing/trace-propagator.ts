import type { Context, TextMapGetter, TextMapPropagator } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { B3InjectEncoding, B3Propagator } from "@opentelemetry/propagator-b3";

/**
 * Whether outbound carriers also get B3 headers, for peers that predate W3C Trace Context:
 * `false` (none), `"multi"` (`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`), `"single"` (one
 * `b3` header). `true` means `"multi"`, the form every B3 implementation reads.
 */
export type B3Injection = boolean | "single" | "multi";

/** Options of {@link tracePropagator}. */
export interface TracePropagatorOptions {
  /** Also inject B3 headers. Default `false`: B3 is only read. */
  readonly injectB3?: B3Injection;
}

/** Reads B3 and never writes it. */
class ExtractOnlyPropagator implements TextMapPropagator {
  readonly #inner: TextMapPropagator;

  constructor(inner: TextMapPropagator) {
    this.#inner = inner;
  }

  inject(): void {}

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    return this.#inner.extract(context, carrier, getter);
  }

  fields(): string[] {
    return [];
  }
}

/**
 * The propagator Flotilla registers: W3C `traceparent`/`tracestate` and W3C `baggage` in and
 * out; B3 (the single `b3` header and the multi `X-B3-*` headers) in, and out only when
 * `injectB3` asks for it.
 *
 * Extraction runs B3 first and W3C Trace Context second, so a request carrying both continues
 * the `traceparent` trace, and one whose `traceparent` is malformed but whose B3 headers are
 * valid continues the B3 trace. A malformed `traceparent` (version `ff`, all-zero trace or span
 * id, wrong lengths, upper-case or non-hex digits, extra fields after a version `00` header) is
 * ignored as https://www.w3.org/TR/trace-context/#traceparent-header requires, so the server
 * span starts a new trace; extraction never throws (each propagator runs inside the composite's
 * error guard).
 */
export function tracePropagator(options: TracePropagatorOptions = {}): TextMapPropagator {
  const injectB3 = options.injectB3 ?? false;
  const b3 =
    injectB3 === false
      ? new ExtractOnlyPropagator(new B3Propagator())
      : new B3Propagator({
          injectEncoding:
            injectB3 === "single" ? B3InjectEncoding.SINGLE_HEADER : B3InjectEncoding.MULTI_HEADER,
        });
  return new CompositePropagator({
    propagators: [b3, new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
}
