import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";
import { createRequire } from "node:module";

/**
 * The child processes a test file starts: each is tracked from the moment it is spawned, so
 * `killAll()` in `afterAll` leaves nothing running even when a test failed half-way through
 * starting one.
 */
export class ChildProcesses {
  readonly #children = new Set<ChildProcess>();

  /** Spawns `command` and tracks it until `killAll()`. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(command, args, options);
    this.#children.add(child);
    return child;
  }

  /** SIGKILLs every tracked process still running and waits for each to exit. */
  async killAll(): Promise<void> {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited(child);
      }
    }
    this.#children.clear();
  }
}

/** Resolves with the exit code of `child` (null after a signal) once it has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/**
 * Resolves with the first match of `pattern` in what `child` has written to stdout and stderr so
 * far; rejects with that output when the process exits first.
 */
export function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = pattern.exec(buffered);
      if (match !== null) {
        cleanup();
        resolve(match);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before printing ${pattern}:\n${buffered}`));
    };
    const cleanup = () => {
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

/** Builds a workspace package and what it references (`tsc -b <dir>`), so child processes can run its `dist/`. */
export function buildPackage(dir: string): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-b", dir], { stdio: "inherit" });
}
