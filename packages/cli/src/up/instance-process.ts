import { type ChildProcess, spawn } from "node:child_process";
import type { WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import type { InstanceState } from "../state/system-state.js";

/** Options of {@link InstanceProcess}. */
export interface InstanceProcessOptions {
  readonly service: string;
  /** `<service>-<n>`. */
  readonly instanceId: string;
  /** The module run as `node <main>`. */
  readonly main: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Receives every output line (stdout and stderr) of the instance. */
  readonly onLine: (line: string) => void;
  /** Told about crashes and restarts, for the user. */
  readonly onEvent: (message: string) => void;
  /** Called after every change of {@link InstanceProcess.state}. */
  readonly onChange: () => void;
  /** Also receives every output line, raw. */
  readonly logFile: WriteStream;
  /** Delay before the first restart; doubled per crash in a row. Default 500 ms. */
  readonly restartBaseMs?: number;
  /** Longest delay between restarts. Default 30 s. */
  readonly restartMaxMs?: number;
  /** A run this long resets the backoff. Default 10 s. */
  readonly stableAfterMs?: number;
}

/**
 * One service instance run as a child process `node <main>`, restarted after it exits unasked, with
 * exponential backoff (0.5 s, 1 s, 2 s … 30 s; reset after 10 s of running). The child runs in its
 * own process group, so a Ctrl-C in the terminal reaches only `flotilla up`, which stops the
 * instances itself, in order.
 */
export class InstanceProcess {
  readonly service: string;
  readonly instanceId: string;
  readonly #options: InstanceProcessOptions;
  #child: ChildProcess | undefined;
  #status: InstanceState["status"] = "starting";
  #restarts = 0;
  #crashesInRow = 0;
  #startedAt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: InstanceProcessOptions) {
    this.#options = options;
    this.service = options.service;
    this.instanceId = options.instanceId;
  }

  /** The instance as `state.json` reports it (without the port, which the registry knows). */
  state(): InstanceState {
    return {
      instanceId: this.instanceId,
      status: this.#status,
      restarts: this.#restarts,
      ...(this.#child?.pid === undefined || this.#status === "restarting" ? {} : { pid: this.#child.pid }),
    };
  }

  /** The pid of the running child, if any. */
  get pid(): number | undefined {
    return this.#status === "restarting" || this.#status === "stopped" ? undefined : this.#child?.pid;
  }

  /** Spawns the child. */
  start(): void {
    const o = this.#options;
    this.#startedAt = Date.now();
    const child = spawn(process.execPath, [o.main], {
      cwd: o.cwd,
      env: o.env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.#child = child;
    this.#status = "running";
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
        o.logFile.write(`${line}\n`);
        o.onLine(line);
      });
    }
    this.#exited = new Promise((resolve) => {
      child.once("error", (error) => {
        o.onEvent(`cannot start ${o.main}: ${error.message}`);
      });
      child.once("close", (code, signal) => {
        resolve();
        this.#onExit(child, code, signal);
      });
    });
    o.onChange();
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child) return;
    const o = this.#options;
    if (this.#stopping) {
      this.#status = "stopped";
      o.onChange();
      return;
    }
    const ranMs = Date.now() - this.#startedAt;
    this.#crashesInRow = ranMs >= (o.stableAfterMs ?? 10_000) ? 1 : this.#crashesInRow + 1;
    const delay = Math.min(
      o.restartMaxMs ?? 30_000,
      (o.restartBaseMs ?? 500) * 2 ** (this.#crashesInRow - 1),
    );
    this.#status = "restarting";
    this.#restarts++;
    const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
    o.onEvent(`exited (${how}); restarting in ${(delay / 1000).toFixed(1)} s (restart ${this.#restarts})`);
    o.onChange();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopping) this.start();
    }, delay);
  }

  /**
   * Stops the instance: SIGTERM, then, if it has not exited after `graceMs`, SIGKILL to its whole
   * process group. Cancels a pending restart. Resolves when the child has exited.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      this.#status = "stopped";
      this.#options.onChange();
      return;
    }
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.#status = "stopped";
      return;
    }
    child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#options.onEvent(`did not stop within ${graceMs} ms; killing it`);
        this.kill();
        resolve();
      }, graceMs);
    });
    await Promise.race([this.#exited, forced]);
    clearTimeout(timer);
    await this.#exited;
  }

  /** SIGKILL to the child's process group (the child and anything it started). */
  kill(): void {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
