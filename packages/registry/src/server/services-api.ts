import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestIssue } from "../registry-error.js";
import type { ApiContext } from "./api-context.js";
import { parseBlockingParams } from "./blocking-query.js";
import { HttpProblem } from "./http-problem.js";
import { sendJson } from "./http-responses.js";
import { InstanceList } from "./instance-list.js";
import { instanceListDelta } from "./instance-list-delta.js";
import { type InstanceQuery, InstanceQueryParser, matchesQuery } from "./instance-query.js";
import type { StreamResult } from "./sse-stream.js";

interface CachedAnswers {
  readonly index: number;
  readonly byQuery: Map<string, InstanceList>;
}

const maxCachedServices = 1024;
const maxCachedQueries = 64;

/**
 * `GET /v1/services`, `GET /v1/services/{service}` (blocking) and its SSE stream (with `deltas=true`,
 * `delta` events after the snapshot). Answers are built once per service, filter and index and
 * shared by every client asking the same, so a thousand watchers woken by one change cost one
 * `JSON.stringify` (of the list, or of the delta).
 */
export class ServicesApi {
  readonly #ctx: ApiContext;
  readonly #parser = new InstanceQueryParser();
  readonly #answers = new Map<string, CachedAnswers>();
  #list: { readonly index: number; readonly members: string } | undefined;

  constructor(ctx: ApiContext) {
    this.#ctx = ctx;
  }

  /** `GET /v1/services`. */
  async list(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const { view, waits, options } = this.#ctx;
    const issues: RequestIssue[] = [];
    const blocking = parseBlockingParams(query, options.defaultWaitMs, options.maxWaitMs, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    if (blocking.index !== undefined && view.servicesIndex === blocking.index) {
      await waits.wait((l) => view.topics.serviceList(l), blocking.waitMs, res);
    }
    const answer = this.#serviceList();
    sendJson(res, 200, `{"index":${answer.index},${answer.members}}`, answer.index);
  }

  /** `GET /v1/services/{service}`. */
  async instances(res: ServerResponse, service: string, query: URLSearchParams): Promise<void> {
    const { view, waits, options } = this.#ctx;
    const issues: RequestIssue[] = [];
    const filters = this.#parser.parse(query, issues);
    const blocking = parseBlockingParams(query, options.defaultWaitMs, options.maxWaitMs, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    if (blocking.index !== undefined && view.serviceIndex(service) === blocking.index) {
      await waits.wait((l) => view.topics.service(service, l), blocking.waitMs, res);
    }
    const answer = this.#instances(service, filters);
    sendJson(res, 200, `{"index":${answer.index},${answer.members}}`, answer.index);
  }

  /** `GET /v1/services/{service}/stream`. */
  stream(req: IncomingMessage, res: ServerResponse, service: string, query: URLSearchParams): void {
    const issues: RequestIssue[] = [];
    const filters = this.#parser.parse(query, issues);
    const since = resumeIndex(req, query, issues);
    const deltas = deltasParam(query, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    const { view, streams } = this.#ctx;
    streams.open(
      res,
      {
        render: () => this.#instances(service, filters),
        subscribe: (l) => view.topics.service(service, l),
        diff: deltas ? instanceListDelta : undefined,
      },
      since,
    );
  }

  #instances(service: string, filters: InstanceQuery): InstanceList {
    const { view } = this.#ctx;
    const index = view.serviceIndex(service);
    let cached = this.#answers.get(service);
    if (cached === undefined || cached.index !== index) {
      if (this.#answers.size >= maxCachedServices) this.#answers.clear();
      cached = { index, byQuery: new Map() };
      this.#answers.set(service, cached);
    }
    let list = cached.byQuery.get(filters.key);
    if (list === undefined) {
      const records = view.service(service)?.sorted() ?? [];
      list = new InstanceList(
        index,
        records.filter((r) => matchesQuery(filters, r)),
      );
      if (cached.byQuery.size >= maxCachedQueries) cached.byQuery.clear();
      cached.byQuery.set(filters.key, list);
    }
    return list;
  }

  #serviceList(): StreamResult {
    const { view } = this.#ctx;
    const index = view.servicesIndex;
    if (this.#list?.index !== index) {
      const services = view.services().map((s) => {
        let passing = 0;
        for (const i of s.instances.values()) if (i.record.status === "passing") passing++;
        return { name: s.name, instances: s.instances.size, passing };
      });
      this.#list = { index, members: `"services":${JSON.stringify(services)}` };
    }
    return this.#list;
  }
}

/** `?deltas=true` asks a service stream for `delta` events; absent or `false`: `update` events. */
function deltasParam(query: URLSearchParams, issues: RequestIssue[]): boolean {
  const raw = query.get("deltas");
  if (raw === null || raw === "false") return false;
  if (raw === "true") return true;
  issues.push({ path: "deltas", message: `expected true or false, got "${raw}"` });
  return false;
}

/** The index a stream resumes from: `Last-Event-ID`, else `?index=`. */
export function resumeIndex(
  req: IncomingMessage,
  query: URLSearchParams,
  issues: RequestIssue[],
): number | undefined {
  const header = req.headers["last-event-id"];
  const raw = typeof header === "string" && header !== "" ? header : query.get("index");
  if (raw === null || raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) {
    issues.push({ path: "index", message: `expected the index of the last event received, got "${raw}"` });
    return undefined;
  }
  return Number(raw);
}
