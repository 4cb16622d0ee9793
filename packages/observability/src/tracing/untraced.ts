import { context } from "@opentelemetry/api";
import { suppressTracing } from "@opentelemetry/core";

/**
 * Runs `fn` with tracing suppressed (OpenTelemetry's `suppressTracing` context): the HTTP, undici
 * and `pg` instrumentations start no span and inject no trace headers for what it does, and
 * contexts derived inside it stay suppressed. For a process's own plumbing — registry heartbeats,
 * discovery watches, telemetry exports — which would otherwise fill the trace store with
 * one-span traces that answer no operator's question.
 *
 * @example
 * ```ts
 * const res = await untraced(() => dispatcher.request({ origin, path, method: "PUT" }));
 * ```
 */
export function untraced<T>(fn: () => T): T {
  return context.with(suppressTracing(context.active()), fn);
}
