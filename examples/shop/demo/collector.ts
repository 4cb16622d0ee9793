import type { WaterfallSpan, WaterfallTrace } from "@flotilla/observability";
import { httpCall } from "./http-call.ts";

/** A span as the collector's query API returns it (the fields the demo reads). */
export interface ViewSpan extends WaterfallSpan {
  readonly spanId: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly resource: Readonly<Record<string, unknown>>;
  readonly status: { readonly code: number; readonly message: string };
}

/** A trace as `GET /api/traces/{id}` returns it: what `renderWaterfall` draws. */
export type TraceJson = Omit<WaterfallTrace, "spans"> & { readonly spans: readonly ViewSpan[] };

/** The instance that produced a span (its resource's `service.instance.id`). */
export function instanceOf(span: ViewSpan): string {
  const id = span.resource["service.instance.id"];
  return typeof id === "string" ? id : "?";
}

/** Reads traces from the embedded collector's query API. */
export class Collector {
  readonly #url: string;

  constructor(url: string) {
    this.#url = url;
  }

  /** The trace, or `undefined` while the collector has none of its spans. */
  async trace(traceId: string): Promise<TraceJson | undefined> {
    const answer = await httpCall(`${this.#url}/api/traces/${traceId}`);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200)
      throw new Error(`the collector answered ${answer.status} for trace ${traceId}`);
    return answer.body as TraceJson;
  }

  /**
   * Polls for a trace until `complete` says it has arrived (services export spans about once a
   * second), at most `timeoutMs`; returns the last trace seen (possibly incomplete or undefined).
   */
  async waitForTrace(
    traceId: string,
    complete: (trace: TraceJson) => boolean,
    timeoutMs = 8_000,
  ): Promise<TraceJson | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last: TraceJson | undefined;
    for (;;) {
      last = (await this.trace(traceId)) ?? last;
      if (last !== undefined && complete(last)) return last;
      if (Date.now() >= deadline) return last;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
