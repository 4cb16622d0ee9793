import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import { instanceUrl, listInstances, request, table } from "./system-api.js";

const stateLine = /^flotilla_circuitbreaker_state\{([^}]*)\}\s+1(\.0+)?\s*$/;
const label = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Parses the current state of each breaker from a Prometheus text answer (`flotilla_circuitbreaker_state`, the series at 1). */
export function parseBreakerStates(metrics: string): { name: string; state: string }[] {
  const breakers: { name: string; state: string }[] = [];
  for (const line of metrics.split("\n")) {
    const match = stateLine.exec(line);
    if (match === null) continue;
    const labels = new Map([...(match[1] ?? "").matchAll(label)].map((m) => [m[1], m[2]]));
    const name = labels.get("name");
    const state = labels.get("state");
    if (name !== undefined && state !== undefined) breakers.push({ name, state });
  }
  return breakers;
}

/** `flotilla breakers`: every circuit breaker of every instance, from each instance's `/metrics`. */
export async function breakersCommand(ctx: CommandContext): Promise<number> {
  const state = await requireState(ctx.stateDir);
  const instances = (await listInstances(state.urls.registry)).filter((i) => i.status !== "critical");
  const rows = [["INSTANCE", "BREAKER", "STATE"]];
  await Promise.all(
    instances.map(async (instance) => {
      try {
        const answer = await request(`${instanceUrl(instance)}/metrics`, { timeoutMs: 3_000 });
        if (answer.status !== 200) return;
        for (const b of parseBreakerStates(answer.text)) rows.push([instance.id, b.name, b.state]);
      } catch {
        // An instance that does not answer has no breakers to show.
      }
    }),
  );
  const [header, ...body] = rows;
  body.sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? "") || (a[1] ?? "").localeCompare(b[1] ?? ""));
  println(ctx, body.length === 0 ? "no circuit breakers reported" : table([header as string[], ...body]));
  return 0;
}
