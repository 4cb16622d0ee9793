import { CliError, CliErrorCode } from "../config/cli-error.js";
import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import { adminEndpoints, instanceUrl, request, requestJson, table } from "./system-api.js";

interface SagaJson {
  id: string;
  type: string;
  style: string;
  state: string;
  createdAt: string;
  updatedAt: string;
  error: string | null;
  steps?: {
    step: string;
    kind: string;
    status: string;
    attempt: number;
    startedAt: string;
    endedAt: string;
    error: string | null;
  }[];
}

/** `flotilla sagas [--failed] [--limit n]`: the sagas of every service that serves the saga API (`/sagas`), newest first. */
export async function sagasCommand(
  ctx: CommandContext,
  options: { failed?: boolean; limit?: number },
): Promise<number> {
  const state = await requireState(ctx.stateDir);
  const endpoints = await adminEndpoints(state.urls.registry, "/sagas");
  if (endpoints.length === 0) {
    println(ctx, "no running service serves /sagas");
    return 0;
  }
  const query = new URLSearchParams({ limit: String(options.limit ?? 50) });
  if (options.failed === true) query.set("failed", "true");
  const rows = [["ID", "SERVICE", "TYPE", "STATE", "CREATED", "ERROR"]];
  for (const endpoint of endpoints) {
    const { sagas } = await requestJson<{ sagas: SagaJson[] }>(`${instanceUrl(endpoint)}/sagas?${query}`);
    for (const s of sagas) rows.push([s.id, endpoint.service, s.type, s.state, s.createdAt, s.error ?? ""]);
  }
  println(ctx, rows.length === 1 ? "no sagas" : table(rows));
  return 0;
}

/** `flotilla saga <id>`: one saga with its step history. */
export async function sagaCommand(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const [id] = args;
  if (id === undefined) throw new CliError(CliErrorCode.Usage, "usage: flotilla saga <id>");
  const state = await requireState(ctx.stateDir);
  for (const endpoint of await adminEndpoints(state.urls.registry, "/sagas")) {
    const answer = await request(`${instanceUrl(endpoint)}/sagas/${encodeURIComponent(id)}`);
    if (answer.status !== 200) continue;
    const saga = JSON.parse(answer.text) as SagaJson;
    println(ctx, `${saga.type} ${saga.id} (${saga.style}, ${endpoint.service}): ${saga.state}`);
    println(
      ctx,
      `  created ${saga.createdAt}, updated ${saga.updatedAt}${saga.error === null ? "" : `\n  error: ${saga.error}`}`,
    );
    const steps = saga.steps ?? [];
    if (steps.length > 0) {
      println(ctx);
      const rows = [["STEP", "KIND", "STATUS", "ATTEMPT", "STARTED", "ENDED", "ERROR"]];
      for (const s of steps)
        rows.push([s.step, s.kind, s.status, String(s.attempt), s.startedAt, s.endedAt, s.error ?? ""]);
      println(ctx, table(rows));
    }
    return 0;
  }
  ctx.stderr.write(`no saga ${id}\n`);
  return 1;
}
