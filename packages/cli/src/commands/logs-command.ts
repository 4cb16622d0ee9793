import { createReadStream, existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { CliError, CliErrorCode } from "../config/cli-error.js";
import { readState, stateFile } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";

/**
 * `flotilla logs <service|instance|registry|gateway|database> [-f] [-n lines]`: the last lines of the
 * log files in `<stateDir>/logs` (every instance of a service, each line prefixed by its instance),
 * then, with `-f`, new lines as they are written until Ctrl-C.
 */
export async function logsCommand(
  ctx: CommandContext,
  args: readonly string[],
  options: { follow?: boolean; lines?: number; signal?: AbortSignal },
): Promise<number> {
  const [name] = args;
  if (name === undefined)
    throw new CliError(CliErrorCode.Usage, "usage: flotilla logs <service> [-f] [-n lines]");
  const logDir = join(ctx.stateDir, "logs");
  const running = await readState(ctx.stateDir);
  const files = existsSync(logDir)
    ? (await readdir(logDir))
        .filter((f) => f === `${name}.log` || new RegExp(`^${escapeRegExp(name)}-\\d+\\.log$`).test(f))
        .sort()
    : [];
  if (files.length === 0) {
    if (running === undefined)
      throw new CliError(CliErrorCode.NotRunning, `nothing is running (no ${stateFile(ctx.stateDir)})`);
    throw new CliError(CliErrorCode.Usage, `no logs for ${name} in ${logDir}`);
  }
  if (running === undefined)
    ctx.stderr.write(`nothing is running (no ${stateFile(ctx.stateDir)}); showing the last run's logs\n`);
  const prefixed = files.length > 1;
  const offsets = new Map<string, number>();
  for (const file of files) {
    const path = join(logDir, file);
    const text = await readFile(path, "utf8");
    offsets.set(path, Buffer.byteLength(text));
    const lines = text.split("\n").filter((l) => l !== "");
    for (const line of lines.slice(-(options.lines ?? 50))) println(ctx, prefix(prefixed, file, line));
  }
  if (options.follow !== true) return 0;
  const signal = options.signal;
  while (signal?.aborted !== true) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 250);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    for (const [path, offset] of offsets) {
      const size = (await stat(path).catch(() => undefined))?.size ?? 0;
      if (size <= offset) continue;
      const chunk = await readRange(path, offset, size);
      const end = chunk.lastIndexOf("\n");
      if (end === -1) continue;
      offsets.set(path, offset + Buffer.byteLength(chunk.slice(0, end + 1)));
      for (const line of chunk.slice(0, end).split("\n")) {
        println(ctx, prefix(prefixed, path.slice(logDir.length + 1), line));
      }
    }
  }
  return 0;
}

function prefix(prefixed: boolean, file: string, line: string): string {
  return prefixed ? `${file.replace(/\.log$/, "")} │ ${line}` : line;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function readRange(path: string, start: number, end: number): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path, { start, end: end - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
