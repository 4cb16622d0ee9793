import { type ServerResponse, STATUS_CODES } from "node:http";
import { collectorJson } from "./collector-json.js";

/**
 * Answers with an RFC 9457 problem (`application/problem+json`): `type` `about:blank`, the status's
 * title, `detail`, and any extension members in `extra` (`code`, `issues`).
 */
export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = Buffer.from(
    collectorJson({ type: "about:blank", title: STATUS_CODES[status] ?? "Error", status, detail, ...extra }),
  );
  res.statusCode = status;
  res.setHeader("content-type", "application/problem+json");
  res.setHeader("content-length", text.length);
  res.end(res.req.method === "HEAD" ? undefined : text);
}
