import type { IncomingMessage, ServerResponse } from "node:http";
import { isMessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import type { DeadLetterAdmin, DeadLetterSelection } from "../transport/transport.js";
import {
  type DeadLetterApiOptions,
  parseDeadLetterApiOptions,
  type ResolvedDeadLetterApiOptions,
} from "./dead-letter-api-options.js";
import { deadLetterJson } from "./dead-letter-json.js";
import { sendJson, sendProblem } from "./problem-response.js";
import { readJsonBody } from "./read-json-body.js";

/** Most ids one replay or purge request may name. */
export const maxSelectedIds = 1_000;
/** Largest `limit` a list request may ask for. */
export const maxListLimit = 1_000;

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** A request the API refuses: answered as a problem with `status`. */
class RequestProblem {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {}
}

function parseLimit(url: URL): number | undefined {
  const raw = url.searchParams.get("limit");
  if (raw === null) return undefined;
  const limit = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(limit >= 1 && limit <= maxListLimit)) {
    throw new RequestProblem(
      400,
      `query parameter limit must be a whole number from 1 to ${maxListLimit}, got "${raw}"`,
    );
  }
  return limit;
}

function parseSelection(body: unknown): DeadLetterSelection {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new RequestProblem(400, 'the body must be a JSON object: {"ids": [...]} or {"queue": "..."}');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => key !== "ids" && key !== "queue");
  if (unknown.length > 0) {
    throw new RequestProblem(
      400,
      `unknown field(s) ${unknown.map((key) => `"${key}"`).join(", ")}; expected "ids" or "queue"`,
    );
  }
  if ("ids" in fields && "queue" in fields)
    throw new RequestProblem(400, 'give either "ids" or "queue", not both');
  if ("queue" in fields) {
    if (typeof fields.queue !== "string" || fields.queue.length === 0) {
      throw new RequestProblem(400, '"queue" must be a non-empty string');
    }
    return { queue: fields.queue };
  }
  const { ids } = fields;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > maxSelectedIds) {
    throw new RequestProblem(400, `"ids" must be an array of 1 to ${maxSelectedIds} dead-letter ids`);
  }
  const bad = ids.findIndex((id) => typeof id !== "string" || id.length === 0);
  if (bad >= 0) throw new RequestProblem(400, `"ids[${bad}]" must be a non-empty string`);
  return { ids: ids as string[] };
}

/**
 * An HTTP handler for inspecting, replaying and purging dead letters through a
 * {@link DeadLetterAdmin}, to mount in any `node:http` server. It answers the requests under
 * `basePath` and returns `true`; for any other path it returns `false` without touching the
 * response, so it chains in front of other routes:
 *
 * - `GET {basePath}?queue=&limit=` — the dead letters, oldest first, as a JSON array (`limit` 1 to 1000,
 *   default the admin's 100); each has the message body in base64 and, when the body is UTF-8 JSON,
 *   also parsed as `envelope`.
 * - `GET {basePath}/{id}` — one dead letter; 404 when unknown.
 * - `POST {basePath}/replay` with `{"ids": [...]}` or `{"queue": "..."}` — `{"replayed": n}`.
 * - `POST {basePath}/purge`, same body — `{"purged": n}`.
 *
 * Errors are `application/problem+json` (RFC 9457) naming the problem: 400 for bad JSON, shapes
 * or query parameters, 413 for a body over `maxBodyBytes` (default 64 KiB), 405 (with `allow`)
 * for a wrong method, 404 for an unknown id or path, 503 while the transport is unavailable or
 * closed, 500 otherwise (logged, detail not exposed). Ids `replay` and `purge` are reserved.
 * The API has no authentication of its own: mount it behind the service's admin access control.
 *
 * @param admin - usually `transport.deadLetters`.
 * @param options - `basePath` (default `/dead-letters`), `maxBodyBytes` (default 65 536), `logger`
 *   (default silent); see {@link DeadLetterApiOptions}. Throws `FLT_MESSAGING_CONFIG_INVALID` for bad ones.
 * @example
 * ```ts
 * const deadLetters = deadLetterApi(transport.deadLetters);
 * createServer((req, res) => {
 *   if (deadLetters(req, res)) return;
 *   res.writeHead(404).end();
 * }).listen(9090);
 * ```
 */
export function deadLetterApi(
  admin: DeadLetterAdmin,
  options?: DeadLetterApiOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const resolved = parseDeadLetterApiOptions(options ?? {});
  const { basePath } = resolved;
  const routes = deadLetterRoutes(admin, resolved);

  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return false;
    }
    const path = url.pathname;
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return false;
    const rest = path.slice(basePath.length + 1);
    const route = routeFor(rest, req.method ?? "GET", routes);
    route(req, res, url).catch((error: unknown) => answerError(res, error, resolved, req));
    return true;
  };
}

interface Routes {
  readonly list: Route;
  readonly get: (id: string) => Route;
  readonly replay: Route;
  readonly purge: Route;
}

function routeFor(rest: string, method: string, routes: Routes): Route {
  const only =
    (allowed: string, route: Route): Route =>
    async (req, res, url) => {
      if (method !== allowed) {
        sendProblem(res, 405, `${method} is not allowed here; use ${allowed}`, { allow: allowed });
        req.resume();
        return;
      }
      await route(req, res, url);
    };
  if (rest === "") return only("GET", routes.list);
  if (rest === "replay") return only("POST", routes.replay);
  if (rest === "purge") return only("POST", routes.purge);
  if (!rest.includes("/")) {
    let id: string;
    try {
      id = decodeURIComponent(rest);
    } catch {
      return async (_req, res) =>
        sendProblem(res, 400, `the dead-letter id in the path is not valid percent-encoding`);
    }
    return only("GET", routes.get(id));
  }
  return async (_req, res) => sendProblem(res, 404, "no such dead-letter resource");
}

function deadLetterRoutes(admin: DeadLetterAdmin, options: ResolvedDeadLetterApiOptions): Routes {
  const selectionRoute =
    (operation: "replay" | "purge", field: "replayed" | "purged"): Route =>
    async (req, res) => {
      const body = await readJsonBody(req, options.maxBodyBytes);
      if (!body.ok) {
        sendProblem(res, body.status, body.detail, body.status === 413 ? { connection: "close" } : {});
        return;
      }
      const selection = parseSelection(body.value);
      const count = await admin[operation](selection);
      sendJson(res, 200, { [field]: count });
    };
  return {
    list: async (_req, res, url) => {
      const queue = url.searchParams.get("queue");
      const limit = parseLimit(url);
      if (queue === "") throw new RequestProblem(400, "query parameter queue must not be empty");
      const letters = await admin.list({
        ...(queue === null ? {} : { queue }),
        ...(limit === undefined ? {} : { limit }),
      });
      sendJson(res, 200, letters.map(deadLetterJson));
    },
    get: (id) => async (_req, res) => {
      const letter = await admin.get(id);
      if (letter === undefined) {
        sendProblem(res, 404, `no dead letter with id ${JSON.stringify(id)}`);
        return;
      }
      sendJson(res, 200, deadLetterJson(letter));
    },
    replay: selectionRoute("replay", "replayed"),
    purge: selectionRoute("purge", "purged"),
  };
}

function answerError(
  res: ServerResponse,
  error: unknown,
  options: ResolvedDeadLetterApiOptions,
  req: IncomingMessage,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof RequestProblem) {
    sendProblem(res, error.status, error.detail);
  } else if (isMessagingError(error, MessagingErrorCode.ConfigInvalid)) {
    sendProblem(res, 400, error.message);
  } else if (isMessagingError(error, MessagingErrorCode.DeadLetterNotFound)) {
    sendProblem(res, 404, error.message);
  } else if (
    isMessagingError(error, MessagingErrorCode.TransportUnavailable) ||
    isMessagingError(error, MessagingErrorCode.Closed)
  ) {
    sendProblem(res, 503, error.message, { "retry-after": "5" });
  } else {
    options.logger.error({ err: error, method: req.method, url: req.url }, "dead-letter API request failed");
    sendProblem(res, 500, "the dead-letter request failed; see the service log");
  }
}
