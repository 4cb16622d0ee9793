import { parseArgs } from "node:util";
import { isFlotillaError } from "@flotilla/resilience";
import { breakersCommand } from "./commands/breakers-command.js";
import { callCommand } from "./commands/call-command.js";
import type { CommandContext } from "./commands/command-context.js";
import { dlqCommand } from "./commands/dlq-command.js";
import { kvCommand } from "./commands/kv-command.js";
import { logsCommand } from "./commands/logs-command.js";
import { sagaCommand, sagasCommand } from "./commands/sagas-command.js";
import { statusCommand } from "./commands/status-command.js";
import { traceCommand, tracesCommand } from "./commands/traces-command.js";
import { CliError, CliErrorCode } from "./config/cli-error.js";
import { findConfigFile, loadSystemConfig } from "./config/load-system-config.js";
import { type OutputStream, TerminalOutput } from "./terminal/terminal-output.js";

/** The usage text `flotilla --help` prints. */
export const usage = `usage: flotilla <command> [options]

  up                                   start the system (Ctrl-C stops it)
  status                               instances, pids, ports, health
  logs <service> [-f] [-n lines]       an instance's or a service's logs
  traces [--service s] [--slow ms] [--errors] [--limit n]
  trace <id>                           one trace as a waterfall
  sagas [--failed] [--limit n]         sagas of the services that serve /sagas
  saga <id>                            one saga with its steps
  dlq list|show <id>|replay <id…>|purge <id…> [--queue q]
  kv get <key> | put <key> <value> | ls [prefix] | rm <key>
  call <service> <METHOD> <path> [json]
  breakers                             circuit breaker states of every instance

options: --config <file> (default: flotilla.config.{ts,yaml,yml} here or above), --log-level <level> (up)`;

/** Where {@link runCli} reads and writes. */
export interface CliIo {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Ends `logs -f`. */
  readonly signal?: AbortSignal;
}

const options = {
  config: { type: "string" },
  "log-level": { type: "string" },
  follow: { type: "boolean", short: "f" },
  lines: { type: "string", short: "n" },
  service: { type: "string" },
  slow: { type: "string" },
  errors: { type: "boolean" },
  failed: { type: "boolean" },
  limit: { type: "string" },
  queue: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Runs one `flotilla` command line and resolves with its exit code (0 success, 1 failure, 2 usage,
 * 130 after a forced stop). Errors the user can act on are printed as one message, without a stack.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv.slice(2), {
 *   cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr,
 * });
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (isFlotillaError(error)) {
      io.stderr.write(`flotilla: ${error.message}\n`);
      return error.code === CliErrorCode.Usage ? 2 : 1;
    }
    io.stderr.write(`flotilla: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(CliErrorCode.Usage, `${(error as Error).message}\n${usage}`);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help === true || command === undefined || command === "help") {
    io.stdout.write(`${usage}\n`);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  const config = await loadSystemConfig(findConfigFile(io.cwd, values.config));
  const ctx: CommandContext = {
    stateDir: config.stateDir,
    stdout: io.stdout,
    stderr: io.stderr,
    colors: io.stdout.isTTY === true && (io.env.NO_COLOR ?? "") === "",
  };
  switch (command) {
    case "up": {
      // Loaded only for `up`: the registry, collector and gateway are not needed by the other commands.
      const { runUp } = await import("./up/run-up.js");
      return runUp({
        config,
        out: new TerminalOutput(io.stdout, io.env),
        env: io.env,
        logLevel: values["log-level"] ?? io.env.FLOTILLA_LOG_LEVEL ?? "info",
      });
    }
    case "status":
      return statusCommand(ctx);
    case "logs":
      return logsCommand(ctx, rest, {
        follow: values.follow === true,
        ...(values.lines === undefined ? {} : { lines: positiveInt("-n", values.lines) }),
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      });
    case "traces":
      return tracesCommand(ctx, {
        ...(values.service === undefined ? {} : { service: values.service }),
        ...(values.slow === undefined ? {} : { slowMs: positiveInt("--slow", values.slow) }),
        errors: values.errors === true,
        ...(values.limit === undefined ? {} : { limit: positiveInt("--limit", values.limit) }),
      });
    case "trace":
      return traceCommand(ctx, rest);
    case "sagas":
      return sagasCommand(ctx, {
        failed: values.failed === true,
        ...(values.limit === undefined ? {} : { limit: positiveInt("--limit", values.limit) }),
      });
    case "saga":
      return sagaCommand(ctx, rest);
    case "dlq":
      return dlqCommand(ctx, rest, values.queue);
    case "kv":
      return kvCommand(ctx, rest);
    case "call":
      return callCommand(ctx, rest);
    case "breakers":
      return breakersCommand(ctx);
    default:
      throw new CliError(CliErrorCode.Usage, `unknown command ${JSON.stringify(command)}\n${usage}`);
  }
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new CliError(
      CliErrorCode.Usage,
      `${flag} must be a whole number ≥ 0, got ${JSON.stringify(value)}`,
    );
  return n;
}
