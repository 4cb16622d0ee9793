import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { CliError, CliErrorCode } from "../config/cli-error.js";

/** Options of {@link startPostgresServer}. */
export interface PostgresServerOptions {
  /** The `postgres` executable. */
  readonly binary: string;
  /** An initialised data directory (`initdb`). */
  readonly dataDir: string;
  readonly port: number;
  /** More arguments of the server, such as `["-c", "listen_addresses=127.0.0.1"]`. */
  readonly args?: readonly string[];
  /** The user and group the server runs as; PostgreSQL refuses to run as root. Default: this process's. */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** A URL the server accepts once it is ready; {@link startPostgresServer} resolves after a connection to it succeeds. */
  readonly readyUrl: string;
  /** Receives each line the server writes (stdout and stderr). */
  readonly onLog: (line: string) => void;
  /** Called when the server, once ready, exits without {@link PostgresServer.stop}: `code 1`, `signal SIGKILL`. */
  readonly onUnexpectedExit?: (how: string) => void;
  /** How long to wait for the first accepted connection. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** How long a fast shutdown may take before the server is killed. Default 10 s. */
  readonly stopTimeoutMs?: number;
}

/** A PostgreSQL server process started by {@link startPostgresServer}. */
export interface PostgresServer {
  /** The postmaster's pid, which is also the id of its process group. */
  readonly pid: number;
  /**
   * Stops the server with a fast shutdown (SIGINT: transactions rolled back, clients disconnected,
   * checkpoint) and resolves when it has exited. Rejects when the server had already exited unasked,
   * or did not exit within `stopTimeoutMs` (it is then killed). Idempotent.
   */
  stop(): Promise<void>;
}

const keptLines = 5;

/**
 * Runs `postgres` on an initialised data directory as the leader of a process group of its own, so a
 * Ctrl-C in the terminal (SIGINT to the terminal's foreground group) does not reach it and its owner
 * decides when it stops. Resolves once the server accepts a connection to `readyUrl`; rejects, with
 * the server's last lines, when it exits first or is not ready within `readyTimeoutMs` (it is killed
 * then).
 */
export async function startPostgresServer(options: PostgresServerOptions): Promise<PostgresServer> {
  const child = spawn(
    options.binary,
    ["-D", options.dataDir, "-p", String(options.port), ...(options.args ?? [])],
    {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_MESSAGES: "C" },
      ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
    },
  );
  if (child.pid === undefined) {
    const [error] = (await once(child, "error")) as [Error];
    throw new Error(`cannot run ${options.binary}: ${error.message}`, { cause: error });
  }
  const server = new ServerProcess(child, child.pid, options);
  try {
    await server.waitReady();
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server;
}

class ServerProcess implements PostgresServer {
  readonly pid: number;
  readonly #options: PostgresServerOptions;
  readonly #lines: string[] = [];
  /** Resolves with how the server exited, once it has and its output is read to the end. */
  readonly #closed: Promise<string>;
  #exited: string | undefined;
  #ready = false;
  #stopRequested = false;
  #stopping: Promise<void> | undefined;

  constructor(child: ChildProcess, pid: number, options: PostgresServerOptions) {
    this.pid = pid;
    this.#options = options;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
        if (line.trim() === "") return;
        this.#lines.push(line);
        if (this.#lines.length > keptLines) this.#lines.shift();
        options.onLog(line);
      });
    }
    child.once("exit", (code, signal) => {
      this.#exited = signal === null ? `code ${code}` : `signal ${signal}`;
      if (!this.#stopRequested && this.#ready) options.onUnexpectedExit?.(this.#exited);
    });
    // "close" comes once the postmaster has exited and its processes (which hold its output) too.
    this.#closed = new Promise((resolve) => {
      child.once("close", (code, signal) => resolve(signal === null ? `code ${code}` : `signal ${signal}`));
    });
  }

  async waitReady(): Promise<void> {
    const timeoutMs = this.#options.readyTimeoutMs ?? 60_000;
    const deadline = performance.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      if (this.#exited !== undefined) {
        await this.#closedWithin(this.#options.stopTimeoutMs ?? 10_000);
        throw new Error(`postgres exited (${this.#exited}) before accepting connections${this.#tail()}`);
      }
      const client = new pg.Client({
        connectionString: this.#options.readyUrl,
        connectionTimeoutMillis: 2_000,
      });
      try {
        await client.connect();
        await client.end();
        this.#ready = true;
        return;
      } catch (error) {
        last = error;
        await client.end().catch(() => undefined);
      }
      if (performance.now() > deadline) {
        throw new Error(
          `postgres did not accept connections within ${timeoutMs / 1000} s (${(last as Error).message})${this.#tail()}`,
        );
      }
      await Promise.race([delay(100), this.#closed]);
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /**
   * Kills the postmaster and waits (at most `stopTimeoutMs`) for the server to be gone: its other
   * processes (each in a session of its own) end when they see the postmaster die.
   */
  async kill(): Promise<void> {
    this.#stopRequested = true;
    try {
      process.kill(this.pid, "SIGKILL");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
    await this.#closedWithin(this.#options.stopTimeoutMs ?? 10_000);
  }

  async #stop(): Promise<void> {
    const timeoutMs = this.#options.stopTimeoutMs ?? 10_000;
    if (this.#exited !== undefined) {
      await this.#closedWithin(timeoutMs);
      throw new CliError(
        CliErrorCode.StopFailed,
        `PostgreSQL had already exited on its own (${this.#exited})${this.#tail()}`,
      );
    }
    this.#stopRequested = true;
    // SIGINT is PostgreSQL's fast shutdown; the postmaster stops its own processes.
    process.kill(this.pid, "SIGINT");
    const how = await this.#closedWithin(timeoutMs);
    if (how === undefined) {
      await this.kill();
      throw new CliError(
        CliErrorCode.StopFailed,
        `PostgreSQL did not stop within ${timeoutMs / 1000} s of a fast shutdown (SIGINT); killed`,
      );
    }
    if (how !== "code 0") {
      throw new CliError(CliErrorCode.StopFailed, `PostgreSQL exited with ${how} on shutdown${this.#tail()}`);
    }
  }

  /** How the server exited, or `undefined` when it is still running after `ms`. */
  async #closedWithin(ms: number): Promise<string | undefined> {
    const timeout = new AbortController();
    const how = await Promise.race([
      this.#closed,
      delay(ms, undefined, { signal: timeout.signal }).then(
        () => undefined,
        () => undefined,
      ),
    ]);
    timeout.abort();
    return how;
  }

  #tail(): string {
    return this.#lines.length === 0 ? "" : `:\n    ${this.#lines.join("\n    ")}`;
  }
}
