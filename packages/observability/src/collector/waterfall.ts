import type { TraceTree } from "./trace-tree.js";
import { traceView } from "./trace-view.js";

/** What the waterfall needs of a span: a {@link TraceView} span, or the same parsed from the query API's JSON. */
export interface WaterfallSpan {
  readonly service: string;
  readonly name: string;
  readonly startMs: number;
  /** When given (as a `bigint`, or the decimal string of the JSON API) with the trace's, offsets are exact. */
  readonly startTimeUnixNano?: bigint | string;
  readonly durationMs: number;
  readonly status: { readonly code: number };
  readonly depth: number;
  readonly orphan?: boolean;
}

/** What the waterfall needs of a trace: its spans in display order (depth first). */
export interface WaterfallTrace {
  readonly traceId?: string;
  readonly startMs: number;
  readonly startTimeUnixNano?: bigint | string;
  readonly durationMs: number;
  readonly spans: readonly WaterfallSpan[];
}

/** Options of {@link renderWaterfall}. */
export interface WaterfallOptions {
  /** Columns per line, such as `process.stdout.columns`. At least 60; default 100. */
  readonly width?: number;
  /** ANSI colours: one per service, errors in red, figures dimmed. Default false. */
  readonly colors?: boolean;
  /** A first line with the trace id, span and service counts and the duration. Default true. */
  readonly header?: boolean;
}

const palette = [36, 35, 33, 34, 32, 96, 95, 93, 94, 92];
const errorCode = 2;
const offsetWidth = 10;
const durationWidth = 8;
const minBarWidth = 10;

/**
 * Renders a trace as a text waterfall for terminals: one line per span, indented two spaces per
 * depth, with service and operation, offset from the trace's start, duration, a bar placed and
 * scaled on the trace's time line, and marks for errors (`✗ error`) and orphans (`orphan`: the
 * parent has not arrived). Control characters in names are replaced, so span data cannot drive the
 * terminal. No colours unless asked for.
 *
 * @example
 * ```ts
 * const tree = collector.store.getTrace(traceId);
 * if (tree) process.stdout.write(renderWaterfall(tree, { width: process.stdout.columns, colors: true }));
 * ```
 */
export function renderWaterfall(trace: TraceTree | WaterfallTrace, options: WaterfallOptions = {}): string {
  const view: WaterfallTrace = "roots" in trace ? traceView(trace) : trace;
  const width = Math.max(60, Math.floor(options.width ?? 100));
  const colors = options.colors ?? false;
  const paint = (code: number | string, text: string): string =>
    colors ? `\x1b[${code}m${text}\x1b[0m` : text;
  const serviceColor = new Map<string, number>();
  for (const span of view.spans) {
    if (!serviceColor.has(span.service)) {
      serviceColor.set(span.service, palette[serviceColor.size % palette.length]!);
    }
  }

  const rows = view.spans.map((span) => {
    const service = clean(span.service);
    const name = clean(span.name);
    const marks = [span.status.code === errorCode ? "✗ error" : "", span.orphan ? "orphan" : ""]
      .filter((m) => m !== "")
      .join(", ");
    return { span, service, name, marks };
  });
  const markWidth = Math.max(0, ...rows.map((r) => (r.marks === "" ? 0 : r.marks.length + 1)));
  const longestLabel = Math.max(
    0,
    ...rows.map((r) => 2 * r.span.depth + r.service.length + 1 + r.name.length),
  );
  // Columns besides the label and the bar: spaces, offset, duration, the bar's frame, marks.
  const room = width - (1 + offsetWidth + 1 + durationWidth + 1 + 2 + markWidth);
  const labelWidth = Math.max(12, Math.min(longestLabel, Math.floor(width * 0.4), room - minBarWidth));
  const barWidth = Math.max(minBarWidth, room - labelWidth);
  const total = view.durationMs > 0 ? view.durationMs : 1;

  const lines: string[] = [];
  if (options.header ?? true) {
    const errors = view.spans.filter((s) => s.status.code === errorCode).length;
    const services = serviceColor.size;
    const parts = [
      `trace ${view.traceId ?? "?"}`,
      `${view.spans.length} span${view.spans.length === 1 ? "" : "s"}`,
      `${services} service${services === 1 ? "" : "s"}`,
      formatDuration(view.durationMs),
    ];
    if (errors > 0) parts.push(paint(31, `${errors} error${errors === 1 ? "" : "s"}`));
    lines.push(parts.join("  "));
  }
  for (const { span, service, name, marks } of rows) {
    const error = span.status.code === errorCode;
    // Deep trees keep at least a few columns for the names.
    const indent = " ".repeat(Math.min(2 * span.depth, labelWidth - 8));
    const text = fit(`${service} ${name}`, labelWidth - indent.length);
    // Colour the service inside the (possibly shortened) text without changing its width.
    const serviceEnd = Math.min(text.length, service.length);
    const label = paint(serviceColor.get(span.service)!, text.slice(0, serviceEnd)) + text.slice(serviceEnd);
    const padding = " ".repeat(labelWidth - indent.length - text.length);
    const offsetMs = offsetOf(span, view);
    const from = clamp(Math.floor((offsetMs / total) * barWidth), 0, barWidth - 1);
    const to = clamp(Math.ceil(((offsetMs + span.durationMs) / total) * barWidth), from + 1, barWidth);
    const bar =
      " ".repeat(from) +
      paint(error ? 31 : serviceColor.get(span.service)!, "█".repeat(to - from)) +
      " ".repeat(barWidth - to);
    const offset = `+${formatDuration(Math.max(0, offsetMs))}`.padStart(offsetWidth);
    const figures = paint(2, `${offset} ${formatDuration(span.durationMs).padStart(durationWidth)}`);
    const mark = marks === "" ? "" : ` ${paint(error ? 31 : 33, marks)}`;
    lines.push(`${indent}${label}${padding} ${figures} │${bar}│${mark}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Milliseconds from the trace's start to the span's, exact when both carry nanoseconds. */
function offsetOf(span: WaterfallSpan, trace: WaterfallTrace): number {
  const spanNs = nanos(span.startTimeUnixNano);
  const traceNs = nanos(trace.startTimeUnixNano);
  return spanNs !== undefined && traceNs !== undefined
    ? Number(spanNs - traceNs) / 1e6
    : span.startMs - trace.startMs;
}

function nanos(value: bigint | string | undefined): bigint | undefined {
  if (typeof value === "bigint") return value;
  return typeof value === "string" && /^\d+$/.test(value) ? BigInt(value) : undefined;
}

/** A duration for people: `0ms`, `850µs`, `2.35ms`, `42.1ms`, `120ms`, `1.50s`, `95.0s`. */
function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  if (ms === 0) return "0ms";
  if (ms < 0.9995) return `${Math.round(ms * 1000)}µs`;
  if (ms < 9.995) return `${ms.toFixed(2)}ms`;
  if (ms < 99.95) return `${ms.toFixed(1)}ms`;
  if (ms < 999.5) return `${ms.toFixed(0)}ms`;
  if (ms < 9995) return `${(ms / 1000).toFixed(2)}s`;
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Replaces control characters (C0, DEL, C1) so that span data cannot send terminal escapes. */
function clean(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\uFFFD");
}

/** Shortens `text` to `width` columns with an ellipsis. */
function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
