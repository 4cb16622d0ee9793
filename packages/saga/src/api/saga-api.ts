import type { IncomingMessage, ServerResponse } from "node:http";
import { readJsonBody, sendJson, sendProblem } from "@flotilla/messaging";
import { isSagaError, SagaError, SagaErrorCode } from "../saga-error.js";
import { isSagaState, SagaState } from "../saga-state.js";
import { parseSagaApiOptions, type ResolvedSagaApiOptions, type SagaApiOptions } from "./saga-api-options.js";
import type { ChoreographyQuery, SagaAdmin, SagaApiSource } from "./saga-api-source.js";
import { choreographedSagaView, orchestratedSagaView, type SagaView } from "./saga-view.js";

/** Largest `limit` a list request may ask for. */
export const maxSagaListLimit = 1_000;
/** Longest `reason` of an abort. */
export const maxAbortReasonLength = 1_000;

const defaultLimit = 100;
/** The tracker lists at most this many at once. */
const trackerMaxLimit = 500;
const listParameters = ["type", "state", "failed", "since", "until", "limit", "style"];

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** A request the API refuses: answered as a problem with `status`. */
class RequestProblem {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {}
}

/**
 * An HTTP handler for operators to see and act on sagas, to mount in any `node:http` server. It
 * answers the requests under `basePath` and returns `true`; for any other path it returns
 * `false` without touching the response, so it chains in front of other routes:
 *
 * - `GET {basePath}?type=&state=&failed=&since=&until=&style=&limit=` — `{"sagas": [...]}`, newest
 *   first, without step histories. `state` is one or more saga states (comma-separated or
 *   repeated); `failed=true` keeps the sagas that need an operator (`FAILED_COMPENSATION`),
 *   `failed=all` adds those that ended in failure (`COMPENSATED`, `ABORTED`) — combined with
 *   `state`, the intersection; `since`/`until` (RFC 3339) bound the creation time (`until`
 *   exclusive); `style` is `orchestration` or `choreography`; `limit` 1 to 1000, default 100.
 * - `GET {basePath}/{id}` — one saga with `steps` (its step history: step, kind, status, attempt,
 *   startedAt, endedAt, error, result), its `input` and `data`; 404 when unknown.
 * - `POST {basePath}/{id}/resume` — an operator resume (a `FAILED_COMPENSATION` saga compensates
 *   again; a running one is taken over); 200 with the saga, 409 when it has ended.
 * - `POST {basePath}/{id}/abort`, optional body `{"reason": "..."}` — marks it `ABORTED`; 409 when it has ended.
 * - `GET {basePath}/_unknown-types` — `{"unknownTypes": [{"type", "count"}]}`: unfinished sagas in
 *   the table whose type this orchestrator does not know (left alone, e.g. after a deploy).
 *
 * Orchestrated and choreographed sagas (when `source` has a `tracker`) have one JSON shape
 * ({@link SagaView}), told apart by `style`; choreographed ones cannot be resumed or aborted here
 * (409). Errors are `application/problem+json` (RFC 9457): 400 for bad query parameters or bodies,
 * 413 for a body over `maxBodyBytes`, 405 (with `allow`) for a wrong method, 404 for an unknown id
 * or path, 503 while the orchestrator is closed, 500 otherwise (logged, detail not exposed). The
 * API has no authentication of its own: mount it behind the service's admin access control.
 *
 * @param source - an `Orchestrator`, or `{ orchestrator, tracker }` with a `ChoreographyTracker`.
 * @param options - `basePath` (default `/sagas`), `maxBodyBytes` (default 16 384), `logger` (default
 *   silent). Throws `FLT_SAGA_OPTIONS_INVALID` for bad ones or a source without the methods needed.
 * @example
 * ```ts
 * const sagas = sagaApi({ orchestrator: orch, tracker }, { logger });
 * createServer((req, res) => {
 *   if (sagas(req, res)) return;
 *   res.writeHead(404).end();
 * }).listen(9090);
 * // curl 'localhost:9090/sagas?failed=true'
 * ```
 */
export function sagaApi(
  source: SagaApiSource,
  options?: SagaApiOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const resolved = parseSagaApiOptions(options ?? {});
  const { orchestrator, tracker } = readSource(source);
  const { basePath } = resolved;
  const routes = sagaRoutes(orchestrator, tracker, resolved);

  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return false;
    }
    const path = url.pathname;
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return false;
    const route = routeFor(path.slice(basePath.length + 1), req.method ?? "GET", routes);
    route(req, res, url).catch((error: unknown) => answerError(res, error, resolved, req));
    return true;
  };
}

function readSource(source: SagaApiSource): {
  orchestrator: SagaAdmin;
  tracker: ChoreographyQuery | undefined;
} {
  const composite = source as { orchestrator?: SagaAdmin; tracker?: ChoreographyQuery };
  const orchestrator = composite?.orchestrator ?? (source as SagaAdmin);
  const tracker = composite?.orchestrator === undefined ? undefined : composite.tracker;
  const missing = ["list", "get", "resume", "abort", "scanUnknownTypes"].filter(
    (method) => typeof (orchestrator as unknown as Record<string, unknown>)?.[method] !== "function",
  );
  const issues = missing.map((method) => ({
    path: "source.orchestrator",
    message: `expected an Orchestrator (no ${method}())`,
  }));
  if (tracker !== undefined && (typeof tracker?.list !== "function" || typeof tracker.get !== "function")) {
    issues.push({ path: "source.tracker", message: "expected a ChoreographyTracker (list() and get())" });
  }
  if (issues.length > 0) {
    throw new SagaError(
      SagaErrorCode.OptionsInvalid,
      `invalid saga API source: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      { issues },
    );
  }
  return { orchestrator, tracker };
}

interface Routes {
  readonly list: Route;
  readonly unknownTypes: Route;
  readonly get: (id: string) => Route;
  readonly resume: (id: string) => Route;
  readonly abort: (id: string) => Route;
}

function routeFor(rest: string, method: string, routes: Routes): Route {
  const only =
    (allowed: string, route: Route): Route =>
    async (req, res, url) => {
      if (method !== allowed) {
        req.resume();
        sendProblem(res, 405, `${method} is not allowed here; use ${allowed}`, { allow: allowed });
        return;
      }
      await route(req, res, url);
    };
  if (rest === "") return only("GET", routes.list);
  if (rest === "_unknown-types") return only("GET", routes.unknownTypes);
  const segments = rest.split("/");
  let id: string;
  try {
    id = decodeURIComponent(segments[0] ?? "");
  } catch {
    return async (req, res) => {
      req.resume();
      sendProblem(res, 400, "the saga id in the path is not valid percent-encoding");
    };
  }
  if (id !== "" && segments.length === 1) return only("GET", routes.get(id));
  if (id !== "" && segments.length === 2 && segments[1] === "resume") return only("POST", routes.resume(id));
  if (id !== "" && segments.length === 2 && segments[1] === "abort") return only("POST", routes.abort(id));
  return async (req, res) => {
    req.resume();
    sendProblem(res, 404, "no such saga resource");
  };
}

function sagaRoutes(
  orchestrator: SagaAdmin,
  tracker: ChoreographyQuery | undefined,
  options: ResolvedSagaApiOptions,
): Routes {
  /** 409 for a choreographed saga (its services drive it), else the orchestrator's own error. */
  const operatorAction = async (id: string, action: "resume" | "abort", run: () => Promise<unknown>) => {
    try {
      return await run();
    } catch (error) {
      if (isSagaError(error, SagaErrorCode.NotFound) && (await tracker?.get(id)) !== undefined) {
        throw new RequestProblem(
          409,
          `saga ${id} is choreographed: the services that react to its events drive it, it cannot be ${action === "resume" ? "resumed" : "aborted"} here`,
        );
      }
      throw error;
    }
  };
  return {
    list: async (_req, res, url) => {
      const query = parseListQuery(url);
      const limit = query.limit;
      const [orchestrated, choreographed] = await Promise.all([
        query.style === "choreography" || query.states?.length === 0
          ? []
          : orchestrator.list({
              ...(query.type === undefined ? {} : { type: query.type }),
              ...(query.states === undefined ? {} : { states: query.states }),
              ...(query.since === undefined ? {} : { since: query.since }),
              ...(query.until === undefined ? {} : { until: query.until }),
              limit,
            }),
        tracker === undefined || query.style === "orchestration" || query.states?.length === 0
          ? []
          : tracker.list({
              ...(query.type === undefined ? {} : { type: query.type }),
              ...(query.states === undefined ? {} : { state: query.states }),
              ...(query.since === undefined ? {} : { from: query.since }),
              ...(query.until === undefined ? {} : { to: query.until }),
              limit: Math.min(limit, trackerMaxLimit),
            }),
      ]);
      const sagas: SagaView[] = [
        ...orchestrated.map((row) => orchestratedSagaView(row)),
        ...choreographed.map((view) => choreographedSagaView(view, false)),
      ]
        .sort((a, b) =>
          a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt < b.createdAt ? 1 : -1,
        )
        .slice(0, limit);
      sendJson(res, 200, { sagas });
    },
    unknownTypes: async (_req, res) => {
      const unknown = await orchestrator.scanUnknownTypes();
      sendJson(res, 200, {
        unknownTypes: [...unknown]
          .map(([type, count]) => ({ type, count }))
          .sort((a, b) => a.type.localeCompare(b.type)),
      });
    },
    get: (id) => async (_req, res) => {
      const found = await orchestrator.get(id);
      if (found !== undefined) {
        sendJson(res, 200, orchestratedSagaView(found.saga, found.steps));
        return;
      }
      const view = await tracker?.get(id);
      if (view === undefined) {
        sendProblem(res, 404, `no saga with id ${JSON.stringify(id)}`);
        return;
      }
      sendJson(res, 200, choreographedSagaView(view, true));
    },
    resume: (id) => async (req, res) => {
      req.resume();
      await operatorAction(id, "resume", () => orchestrator.resume(id));
      options.logger.info({ sagaId: id }, "saga resumed through the saga API");
      await sendOne(res, orchestrator, id);
    },
    abort: (id) => async (req, res) => {
      const body = await readJsonBody(req, options.maxBodyBytes, { allowEmpty: true });
      if (!body.ok) {
        sendProblem(res, body.status, body.detail, body.status === 413 ? { connection: "close" } : {});
        return;
      }
      const reason = parseAbortBody(body.value);
      await operatorAction(id, "abort", () => orchestrator.abort(id, reason));
      options.logger.warn({ sagaId: id, reason }, "saga aborted through the saga API");
      await sendOne(res, orchestrator, id);
    },
  };
}

async function sendOne(res: ServerResponse, orchestrator: SagaAdmin, id: string): Promise<void> {
  const found = await orchestrator.get(id);
  if (found === undefined) {
    sendProblem(res, 404, `no saga with id ${JSON.stringify(id)}`);
    return;
  }
  sendJson(res, 200, orchestratedSagaView(found.saga, found.steps));
}

interface ListQuery {
  readonly type: string | undefined;
  /** `undefined`: any state; empty: the filters exclude every state. */
  readonly states: SagaState[] | undefined;
  readonly since: Date | undefined;
  readonly until: Date | undefined;
  readonly style: "orchestration" | "choreography" | undefined;
  readonly limit: number;
}

function parseListQuery(url: URL): ListQuery {
  const params = url.searchParams;
  const unknown = [...new Set(params.keys())].filter((key) => !listParameters.includes(key));
  if (unknown.length > 0) {
    throw new RequestProblem(
      400,
      `unknown query parameter(s) ${unknown.map((key) => `"${key}"`).join(", ")}; expected ${listParameters.join(", ")}`,
    );
  }
  const single = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw new RequestProblem(400, `query parameter ${name} is given more than once`);
    if (values[0] === "") throw new RequestProblem(400, `query parameter ${name} must not be empty`);
    return values[0];
  };
  let states: SagaState[] | undefined;
  const named = params.getAll("state").flatMap((value) => value.split(","));
  if (named.length > 0) {
    const bad = named.filter((state) => !isSagaState(state));
    if (bad.length > 0) {
      throw new RequestProblem(
        400,
        `query parameter state must be saga states (${Object.values(SagaState).join(", ")}), got ${bad.map((s) => JSON.stringify(s)).join(", ")}`,
      );
    }
    states = [...new Set(named as SagaState[])];
  }
  const failed = single("failed");
  if (failed !== undefined) {
    const failedStates: SagaState[] =
      failed === "true"
        ? [SagaState.FailedCompensation]
        : failed === "all"
          ? [SagaState.FailedCompensation, SagaState.Compensated, SagaState.Aborted]
          : [];
    if (failed !== "true" && failed !== "all" && failed !== "false") {
      throw new RequestProblem(
        400,
        `query parameter failed must be true, all or false, got ${JSON.stringify(failed)}`,
      );
    }
    if (failed !== "false")
      states = states === undefined ? failedStates : states.filter((s) => failedStates.includes(s));
  }
  const style = single("style");
  if (style !== undefined && style !== "orchestration" && style !== "choreography") {
    throw new RequestProblem(
      400,
      `query parameter style must be orchestration or choreography, got ${JSON.stringify(style)}`,
    );
  }
  const rawLimit = single("limit");
  const limit =
    rawLimit === undefined ? defaultLimit : /^\d{1,7}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
  if (!(limit >= 1 && limit <= maxSagaListLimit)) {
    throw new RequestProblem(
      400,
      `query parameter limit must be a whole number from 1 to ${maxSagaListLimit}, got ${JSON.stringify(rawLimit)}`,
    );
  }
  const since = parseTime(single("since"), "since");
  const until = parseTime(single("until"), "until");
  return { type: single("type"), states, since, until, style, limit };
}

function parseTime(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new RequestProblem(
      400,
      `query parameter ${name} must be an RFC 3339 time (e.g. 2026-01-31T12:00:00Z), got ${JSON.stringify(value)}`,
    );
  }
  return date;
}

function parseAbortBody(body: unknown): string | undefined {
  if (body === undefined) return undefined;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new RequestProblem(400, 'the body must be empty or a JSON object: {"reason": "..."}');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => key !== "reason");
  if (unknown.length > 0) {
    throw new RequestProblem(
      400,
      `unknown field(s) ${unknown.map((key) => `"${key}"`).join(", ")}; expected "reason"`,
    );
  }
  const { reason } = fields;
  if (reason === undefined) return undefined;
  if (typeof reason !== "string" || reason.trim() === "" || reason.length > maxAbortReasonLength) {
    throw new RequestProblem(
      400,
      `"reason" must be a non-empty string of at most ${maxAbortReasonLength} characters`,
    );
  }
  return reason;
}

function answerError(
  res: ServerResponse,
  error: unknown,
  options: ResolvedSagaApiOptions,
  req: IncomingMessage,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof RequestProblem) {
    sendProblem(res, error.status, error.detail);
  } else if (isSagaError(error, SagaErrorCode.NotFound)) {
    sendProblem(res, 404, error.message);
  } else if (isSagaError(error, SagaErrorCode.InvalidState)) {
    sendProblem(res, 409, error.message);
  } else if (isSagaError(error, SagaErrorCode.OptionsInvalid)) {
    sendProblem(res, 400, error.message);
  } else if (isSagaError(error, SagaErrorCode.Closed)) {
    sendProblem(res, 503, error.message, { "retry-after": "5" });
  } else {
    options.logger.error({ err: error, method: req.method, url: req.url }, "saga API request failed");
    sendProblem(res, 500, "the saga request failed; see the service log");
  }
}
