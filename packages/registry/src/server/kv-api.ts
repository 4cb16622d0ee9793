import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestIssue } from "../registry-error.js";
import type { ApiContext } from "./api-context.js";
import { parseBlockingParams } from "./blocking-query.js";
import { HttpProblem } from "./http-problem.js";
import { sendJson, sendProblem } from "./http-responses.js";
import { kvKeyProblem, kvPrefixProblem } from "./kv-key.js";
import { readBody } from "./read-body.js";
import { resumeIndex } from "./services-api.js";
import type { StreamResult } from "./sse-stream.js";
import { storeLayout } from "./store-layout.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The KV API (README.md, "KV"): `GET`/`PUT`/`DELETE /v1/kv/{key}` with `cas`, `GET /v1/kv?prefix=`
 * (blocking) and `GET /v1/kv-stream`. Values live under `kv/` in the store.
 */
export class KvApi {
  readonly #ctx: ApiContext;

  constructor(ctx: ApiContext) {
    this.#ctx = ctx;
  }

  /** `GET /v1/kv/{key}`: the entry, or 404 with the index (so a blocking read can wait for creation). */
  async get(res: ServerResponse, key: string, query: URLSearchParams): Promise<void> {
    const { view, waits, options } = this.#ctx;
    const issues = keyIssues(key);
    const blocking = parseBlockingParams(query, options.defaultWaitMs, options.maxWaitMs, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    if (blocking.index !== undefined && view.kvKeyIndex(key) === blocking.index) {
      await waits.wait((l) => view.topics.kvKey(key, l), blocking.waitMs, res);
    }
    const entry = view.kvEntry(key);
    const index = view.kvKeyIndex(key);
    if (entry === undefined) sendProblem(res, HttpProblem.notFound(`no KV key "${key}"`), index);
    else sendJson(res, 200, entry, index);
  }

  /** `GET /v1/kv?prefix=p`. */
  async list(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const { view, waits, options } = this.#ctx;
    const prefix = query.get("prefix") ?? "";
    const issues = prefixIssues(prefix);
    const blocking = parseBlockingParams(query, options.defaultWaitMs, options.maxWaitMs, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    if (blocking.index !== undefined && view.kvList(prefix).index === blocking.index) {
      await waits.wait((l) => view.topics.kvPrefix(prefix, l), blocking.waitMs, res);
    }
    const { index, entries } = view.kvList(prefix);
    sendJson(res, 200, { index, entries }, index);
  }

  /** `PUT /v1/kv/{key}[?cas=N]`, the body being the value. */
  async put(req: IncomingMessage, res: ServerResponse, key: string, query: URLSearchParams): Promise<void> {
    const { store, view, options } = this.#ctx;
    const issues = keyIssues(key);
    const cas = casParam(query, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    const body = await readBody(req, options.limits.maxKvValueBytes);
    let value: string;
    try {
      value = utf8.decode(body);
    } catch {
      throw HttpProblem.invalid([{ path: "value", message: "the value must be UTF-8 text" }]);
    }
    if (view.kvEntry(key) === undefined && view.kvCount >= options.limits.maxKvEntries) {
      throw HttpProblem.limit(
        429,
        `the registry holds its limit of ${options.limits.maxKvEntries} KV entries`,
        5000,
      );
    }
    const result = await store.put(storeLayout.kv + key, value, cas === undefined ? {} : { cas });
    if (!result.ok) {
      sendJson(res, 409, { ok: false, modifyIndex: result.current?.modifyIndex ?? 0 });
      return;
    }
    await view.waitForIndex(result.index, options.catchUpTimeoutMs);
    sendJson(res, 200, { ok: true, modifyIndex: result.index }, result.index);
  }

  /** `DELETE /v1/kv/{key}[?cas=N]`. */
  async delete(res: ServerResponse, key: string, query: URLSearchParams): Promise<void> {
    const { store, view, options } = this.#ctx;
    const issues = keyIssues(key);
    const cas = casParam(query, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    const result = await store.delete(storeLayout.kv + key, cas === undefined ? {} : { cas });
    if (!result.ok) {
      if (result.current === undefined) throw HttpProblem.notFound(`no KV key "${key}"`);
      sendJson(res, 409, { ok: false, modifyIndex: result.current.modifyIndex });
      return;
    }
    await view.waitForIndex(result.index, options.catchUpTimeoutMs);
    sendJson(res, 200, { ok: true, index: result.index }, result.index);
  }

  /** `GET /v1/kv-stream?prefix=p` or `?key=k`: SSE of `{ index, entries }`. */
  stream(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const { view, streams } = this.#ctx;
    const key = query.get("key");
    const prefix = query.get("prefix") ?? "";
    const issues = key === null ? prefixIssues(prefix) : keyIssues(key, "key");
    if (key !== null && query.has("prefix"))
      issues.push({ path: "prefix", message: "give either key or prefix" });
    const since = resumeIndex(req, query, issues);
    if (issues.length > 0) throw HttpProblem.invalid(issues);
    if (key !== null) {
      streams.open(
        res,
        {
          render: (): StreamResult => {
            const entry = view.kvEntry(key);
            return {
              index: view.kvKeyIndex(key),
              members: `"entries":${JSON.stringify(entry === undefined ? [] : [entry])}`,
            };
          },
          subscribe: (l) => view.topics.kvKey(key, l),
        },
        since,
      );
      return;
    }
    streams.open(
      res,
      {
        render: (): StreamResult => {
          const { index, entries } = view.kvList(prefix);
          return { index, members: `"entries":${JSON.stringify(entries)}` };
        },
        subscribe: (l) => view.topics.kvPrefix(prefix, l),
      },
      since,
    );
  }
}

function keyIssues(key: string, path = "key"): RequestIssue[] {
  const problem = kvKeyProblem(key);
  return problem === undefined ? [] : [{ path, message: problem }];
}

function prefixIssues(prefix: string): RequestIssue[] {
  const problem = kvPrefixProblem(prefix);
  return problem === undefined ? [] : [{ path: "prefix", message: problem }];
}

function casParam(query: URLSearchParams, issues: RequestIssue[]): number | undefined {
  const raw = query.get("cas");
  if (raw === null) return undefined;
  if (!/^\d{1,15}$/.test(raw)) {
    issues.push({ path: "cas", message: `expected a whole number ≥ 0, got "${raw}"` });
    return undefined;
  }
  return Number(raw);
}
