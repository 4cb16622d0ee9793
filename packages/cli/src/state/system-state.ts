import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CliError, CliErrorCode } from "../config/cli-error.js";

/** What `flotilla up` reports about one service instance. */
export interface InstanceState {
  readonly instanceId: string;
  readonly pid?: number;
  readonly port?: number;
  /** `starting`, `running`, `restarting` (after a crash, waiting its backoff) or `stopped`. */
  readonly status: "starting" | "running" | "restarting" | "stopped";
  readonly restarts?: number;
  /** The registry's view: `passing`, `warning` or `critical`; absent while not registered. */
  readonly health?: string;
}

/** The content of `<stateDir>/state.json` while `flotilla up` runs. */
export interface SystemState {
  readonly name: string;
  /** The pid of the `flotilla up` process. */
  readonly pid: number;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly urls: {
    readonly gateway?: string;
    readonly registry: string;
    readonly collector: string;
    /** The system database's admin URL. */
    readonly database: string;
  };
  readonly logDir: string;
  readonly services: Readonly<Record<string, readonly InstanceState[]>>;
}

/** The path of the state file in a state directory. */
export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

/** Writes the state file atomically (a temporary file renamed over it), so readers never see half of it. */
export async function writeState(stateDir: string, state: SystemState): Promise<void> {
  const file = stateFile(stateDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temporary, file);
}

/** Removes the state file; nothing when it is absent. */
export async function removeState(stateDir: string): Promise<void> {
  await rm(stateFile(stateDir), { force: true });
}

/** True when a process with this pid exists (signal 0 probes without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Reads the state of the running system, or `undefined` when there is no state file or the process
 * that wrote it is gone (a stale file).
 */
export async function readState(stateDir: string): Promise<SystemState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(stateDir), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let state: SystemState;
  try {
    state = JSON.parse(text) as SystemState;
  } catch {
    return undefined;
  }
  return typeof state.pid === "number" && processAlive(state.pid) ? state : undefined;
}

/** {@link readState}, throwing `FLT_CLI_NOT_RUNNING` with the message every command prints when nothing runs. */
export async function requireState(stateDir: string): Promise<SystemState> {
  const state = await readState(stateDir);
  if (state === undefined) {
    throw new CliError(CliErrorCode.NotRunning, `nothing is running (no ${stateFile(stateDir)})`);
  }
  return state;
}
