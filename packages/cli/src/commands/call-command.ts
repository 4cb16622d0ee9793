import { CliError, CliErrorCode } from "../config/cli-error.js";
import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import { instanceUrl, type RegisteredInstance, request, requestJson } from "./system-api.js";

const methods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * `flotilla call <service> <METHOD> <path> [json]`: one request to a passing instance of the
 * service, picked at random from the registry; prints the instance, the status and the body.
 * Exit code 0 for a 2xx answer, 1 otherwise.
 */
export async function callCommand(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const [service, rawMethod, path, body] = args;
  const method = rawMethod?.toUpperCase();
  if (service === undefined || method === undefined || path === undefined || !methods.has(method)) {
    throw new CliError(
      CliErrorCode.Usage,
      "usage: flotilla call <service> <GET|POST|PUT|PATCH|DELETE> <path> [json]",
    );
  }
  if (body !== undefined) {
    try {
      JSON.parse(body);
    } catch (error) {
      throw new CliError(CliErrorCode.Usage, `the body is not valid JSON: ${(error as Error).message}`);
    }
  }
  const state = await requireState(ctx.stateDir);
  const { instances } = await requestJson<{ instances: RegisteredInstance[] }>(
    `${state.urls.registry}/v1/services/${encodeURIComponent(service)}?status=passing`,
  );
  if (instances.length === 0) {
    throw new CliError(CliErrorCode.RequestFailed, `no healthy instance of ${service} in the registry`);
  }
  const instance = instances[Math.floor(Math.random() * instances.length)] as RegisteredInstance;
  const answer = await request(`${instanceUrl(instance)}${path.startsWith("/") ? path : `/${path}`}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
  });
  ctx.stderr.write(`${method} ${path} → ${instance.id} (${instanceUrl(instance)}): ${answer.status}\n`);
  let text = answer.text;
  if (answer.contentType.includes("json")) {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Printed as received.
    }
  }
  if (text !== "") println(ctx, text);
  return answer.status >= 200 && answer.status < 300 ? 0 : 1;
}
