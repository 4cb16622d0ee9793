import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import { listInstances, type RegisteredInstance, table } from "./system-api.js";

/** `flotilla status`: the URLs, and every instance with its pid, port, health and restarts. */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  const state = await requireState(ctx.stateDir);
  let registered: RegisteredInstance[] | undefined;
  try {
    registered = await listInstances(state.urls.registry);
  } catch {
    registered = undefined;
  }
  const byId = new Map((registered ?? []).map((i) => [i.id, i]));
  const uptime = Math.round((Date.now() - Date.parse(state.startedAt)) / 1000);
  println(ctx, `${state.name}: up ${uptime} s (pid ${state.pid})`);
  if (state.urls.gateway !== undefined) println(ctx, `  gateway    ${state.urls.gateway}`);
  println(ctx, `  registry   ${state.urls.registry}${registered === undefined ? " (not answering)" : ""}`);
  println(ctx, `  collector  ${state.urls.collector}`);
  println(ctx, `  logs       ${state.logDir}`);
  println(ctx);
  const rows: string[][] = [["INSTANCE", "PID", "PORT", "PROCESS", "HEALTH", "RESTARTS"]];
  for (const [, instances] of Object.entries(state.services)) {
    for (const instance of instances) {
      const reg = byId.get(instance.instanceId);
      rows.push([
        instance.instanceId,
        instance.pid === undefined ? "-" : String(instance.pid),
        String(reg?.port ?? instance.port ?? "-"),
        instance.status,
        reg?.status ?? "not registered",
        String(instance.restarts ?? 0),
      ]);
    }
  }
  println(ctx, table(rows));
  return 0;
}
