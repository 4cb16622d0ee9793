import type { IncomingMessage, ServerResponse } from "node:http";
import { CollectorErrorCode, isInvalidTraceQueryError } from "./collector-error.js";
import { collectorJson } from "./collector-json.js";
import { sendProblem as problem } from "./problem-response.js";
import type { SpanStore } from "./span-store.js";
import type { TimeWindow, TraceQuery } from "./trace-query.js";
import { traceView } from "./trace-view.js";

/**
 * The collector's HTTP JSON query API, served next to the OTLP receiver. Every endpoint is `GET`;
 * 64-bit integers (`startTimeUnixNano` …) are decimal strings and bytes base64. Errors are RFC 9457
 * `application/problem+json` with a `code` (and `issues` for bad parameters).
 *
 * | endpoint | answer |
 * | --- | --- |
 * | `/api/traces?service=&operation=&errorsOnly=true&minDuration=250ms&from=&to=&limit=20` | `{ traces: TraceSummary[] }`, most recent first |
 * | `/api/traces/{traceId}` | a {@link TraceView}: the span tree flattened depth first; 404 when unknown |
 * | `/api/dependencies?from=&to=` | a `DependencyGraph`: `{ nodes, edges }` |
 * | `/api/services` | `{ services: string[] }` |
 * | `/api/services/{service}/operations` | `{ operations: string[] }` |
 * | `/api/stats` | `{ store: SpanStoreStats, receiver: OtlpTraceReceiverStats }` |
 *
 * `from`/`to` are epoch milliseconds or ISO 8601 times; `minDuration` a duration such as `250ms`
 * or milliseconds.
 */
export class TraceQueryApi {
  readonly #store: SpanStore;
  readonly #stats: () => Record<string, unknown>;

  constructor(store: SpanStore, stats: () => Record<string, unknown>) {
    this.#store = store;
    this.#stats = stats;
  }

  /** Answers one request under `/api/`. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("allow", "GET, HEAD");
        problem(res, 405, `${req.method} is not allowed here; the query API is read-only`);
        return;
      }
      this.#route(res, url);
    } catch (error) {
      if (isInvalidTraceQueryError(error)) {
        problem(res, 400, error.message, { code: error.code, issues: error.issues });
      } else {
        problem(res, 500, `internal error: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  #route(res: ServerResponse, url: URL): void {
    const parts = url.pathname.split("/").filter((p) => p !== "");
    const [, resource, id, sub] = parts;
    const params = url.searchParams;
    if (resource === "traces" && parts.length === 2) {
      json(res, { traces: this.#store.listTraces(traceQuery(params)) });
    } else if (resource === "traces" && parts.length === 3) {
      const traceId = decode(id!);
      if (!/^[0-9a-fA-F]{32}$/.test(traceId)) {
        problem(res, 400, `"${clip(traceId)}" is not a trace id (32 hex digits)`, {
          code: CollectorErrorCode.InvalidQuery,
        });
        return;
      }
      const tree = this.#store.getTrace(traceId);
      if (tree === undefined) problem(res, 404, `trace ${traceId.toLowerCase()} is not in the store`);
      else json(res, traceView(tree));
    } else if (resource === "dependencies" && parts.length === 2) {
      json(res, this.#store.dependencies(timeWindow(params)));
    } else if (resource === "services" && parts.length === 2) {
      json(res, { services: this.#store.services() });
    } else if (resource === "services" && parts.length === 4 && sub === "operations") {
      json(res, { operations: this.#store.operations(decode(id!)) });
    } else if (resource === "stats" && parts.length === 2) {
      json(res, this.#stats());
    } else {
      problem(res, 404, `no endpoint ${url.pathname}`);
    }
  }
}

/** Reads the query-string form of a {@link TraceQuery}; the store validates the values. */
function traceQuery(params: URLSearchParams): TraceQuery {
  const query: Record<string, unknown> = {};
  for (const [key, value] of params) {
    if (key === "errorsOnly")
      query[key] =
        value === "true" || value === "1" ? true : value === "false" || value === "0" ? false : value;
    else if (key === "limit") query[key] = /^\d+$/.test(value) ? Number(value) : value;
    else query[key] = value;
  }
  return query as TraceQuery;
}

function timeWindow(params: URLSearchParams): TimeWindow {
  return Object.fromEntries(params) as TimeWindow;
}

function json(res: ServerResponse, body: unknown): void {
  const text = Buffer.from(collectorJson(body));
  res.statusCode = 200;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", text.length);
  res.end(res.req.method === "HEAD" ? undefined : text);
}

/** Percent-decodes a path segment, leaving a malformed one as it is. */
function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
