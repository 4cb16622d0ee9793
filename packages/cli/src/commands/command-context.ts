import type { OutputStream } from "../terminal/terminal-output.js";

/** What every command gets: where the system's state lives and where to write. */
export interface CommandContext {
  /** The absolute state directory of the system (from its config). */
  readonly stateDir: string;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** ANSI colours on stdout. */
  readonly colors: boolean;
}

/** Writes one line to the command's stdout. */
export function println(ctx: CommandContext, text = ""): void {
  ctx.stdout.write(`${text}\n`);
}
