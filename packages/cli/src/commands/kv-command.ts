import { CliError, CliErrorCode } from "../config/cli-error.js";
import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import { request, requestJson } from "./system-api.js";

function kvUrl(registry: string, key: string): string {
  return `${registry}/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/** `flotilla kv get <key>`, `kv put <key> <value>`, `kv ls [prefix]`, `kv rm <key>`: the registry's KV store. */
export async function kvCommand(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const [action, key, value] = args;
  const state = await requireState(ctx.stateDir);
  const registry = state.urls.registry;
  switch (action) {
    case "get": {
      if (key === undefined) throw new CliError(CliErrorCode.Usage, "usage: flotilla kv get <key>");
      const answer = await request(kvUrl(registry, key));
      if (answer.status === 404) {
        ctx.stderr.write(`no key ${key}\n`);
        return 1;
      }
      if (answer.status !== 200)
        throw new CliError(CliErrorCode.RequestFailed, `kv get ${key}: ${answer.status} ${answer.text}`);
      println(ctx, (JSON.parse(answer.text) as { value: string }).value);
      return 0;
    }
    case "put": {
      if (key === undefined || value === undefined) {
        throw new CliError(CliErrorCode.Usage, "usage: flotilla kv put <key> <value>");
      }
      const answer = await request(kvUrl(registry, key), { method: "PUT", body: value });
      if (answer.status !== 200)
        throw new CliError(CliErrorCode.RequestFailed, `kv put ${key}: ${answer.status} ${answer.text}`);
      println(
        ctx,
        `${key} = ${value} (index ${(JSON.parse(answer.text) as { modifyIndex: number }).modifyIndex})`,
      );
      return 0;
    }
    case "rm": {
      if (key === undefined) throw new CliError(CliErrorCode.Usage, "usage: flotilla kv rm <key>");
      const answer = await request(kvUrl(registry, key), { method: "DELETE" });
      if (answer.status === 404) {
        ctx.stderr.write(`no key ${key}\n`);
        return 1;
      }
      println(ctx, `removed ${key}`);
      return 0;
    }
    case "ls": {
      const { entries } = await requestJson<{ entries: { key: string; value: string }[] }>(
        `${registry}/v1/kv?prefix=${encodeURIComponent(key ?? "")}`,
      );
      for (const entry of entries) println(ctx, `${entry.key} = ${entry.value}`);
      return 0;
    }
    default:
      throw new CliError(
        CliErrorCode.Usage,
        "usage: flotilla kv get <key> | put <key> <value> | ls [prefix] | rm <key>",
      );
  }
}
