import { CliError, CliErrorCode } from "../config/cli-error.js";
import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import {
  adminEndpoints,
  instanceUrl,
  type RegisteredInstance,
  request,
  requestJson,
  table,
} from "./system-api.js";

interface DeadLetterJson {
  id: string;
  queue: string;
  reason: { code: string; message: string };
  attempts: number;
  deadLetteredAt: string;
  message: { id: string; topic: string; key?: string; envelope?: unknown; body: string };
}

/**
 * `flotilla dlq list [--queue q]`, `dlq show <id>`, `dlq replay <id…>` (or `--queue q`),
 * `dlq purge <id…>` (or `--queue q`): the dead-letter API (`/dead-letters`) of every service
 * instance that serves it.
 */
export async function dlqCommand(
  ctx: CommandContext,
  args: readonly string[],
  queue?: string,
): Promise<number> {
  const [action, ...ids] = args;
  const state = await requireState(ctx.stateDir);
  const endpoints = await adminEndpoints(state.urls.registry, "/dead-letters");
  if (endpoints.length === 0) {
    println(ctx, "no running service serves /dead-letters");
    return 0;
  }
  switch (action) {
    case undefined:
    case "list": {
      const rows = [["ID", "SERVICE", "QUEUE", "TOPIC", "ATTEMPTS", "WHEN", "REASON"]];
      for (const endpoint of endpoints) {
        const query = queue === undefined ? "" : `?queue=${encodeURIComponent(queue)}`;
        const letters = await requestJson<DeadLetterJson[]>(`${instanceUrl(endpoint)}/dead-letters${query}`);
        for (const l of letters) {
          rows.push([
            l.id,
            endpoint.service,
            l.queue,
            l.message.topic,
            String(l.attempts),
            l.deadLetteredAt,
            `${l.reason.code}: ${l.reason.message}`,
          ]);
        }
      }
      println(ctx, rows.length === 1 ? "no dead letters" : table(rows));
      return 0;
    }
    case "show": {
      const [id] = ids;
      if (id === undefined) throw new CliError(CliErrorCode.Usage, "usage: flotilla dlq show <id>");
      const found = await findLetter(endpoints, id);
      if (found === undefined) {
        ctx.stderr.write(`no dead letter ${id}\n`);
        return 1;
      }
      println(ctx, JSON.stringify({ service: found.endpoint.service, ...found.letter }, null, 2));
      return 0;
    }
    case "replay":
    case "purge": {
      if (ids.length === 0 && queue === undefined) {
        throw new CliError(CliErrorCode.Usage, `usage: flotilla dlq ${action} <id…> | --queue <queue>`);
      }
      const field = action === "replay" ? "replayed" : "purged";
      let total = 0;
      for (const endpoint of endpoints) {
        const body = queue === undefined ? { ids } : { queue };
        const result = await requestJson<Record<string, number>>(
          `${instanceUrl(endpoint)}/dead-letters/${action}`,
          {
            method: "POST",
            body,
          },
        );
        total += result[field] ?? 0;
      }
      println(ctx, `${field} ${total}`);
      return 0;
    }
    default:
      throw new CliError(
        CliErrorCode.Usage,
        "usage: flotilla dlq list | show <id> | replay <id…> | purge <id…> [--queue q]",
      );
  }
}

async function findLetter(
  endpoints: readonly RegisteredInstance[],
  id: string,
): Promise<{ endpoint: RegisteredInstance; letter: DeadLetterJson } | undefined> {
  for (const endpoint of endpoints) {
    const answer = await request(`${instanceUrl(endpoint)}/dead-letters/${encodeURIComponent(id)}`);
    if (answer.status === 200) return { endpoint, letter: JSON.parse(answer.text) as DeadLetterJson };
  }
  return undefined;
}
