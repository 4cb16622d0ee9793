import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { get } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real etcd process for integration tests, on loopback ports of its own and a temp data dir. */
export interface EtcdServer {
  /** `http://127.0.0.1:<client port>`, for `etcdStore({ endpoints: [endpoint] })`. */
  readonly endpoint: string;
  /** Kills the process with SIGKILL (a crash) and keeps its data dir and ports for {@link EtcdServer.restart}. */
  kill(): Promise<void>;
  /** Starts the process again on the same ports and data dir and waits until it answers. */
  restart(): Promise<void>;
  /** Stops the process (SIGTERM, SIGKILL after 5 s) and removes its data dir. Idempotent. */
  stop(): Promise<void>;
}

const startDeadlineMs = 20_000;
const stopGraceMs = 5_000;
const portAttempts = 3;

/**
 * Spawns `etcd` (Debian package `etcd-server`) with a fresh temp data dir on free loopback
 * ports and resolves once `GET /health` answers healthy. Start one per test file
 * (`beforeAll`) and stop it in `afterAll`.
 */
export async function startEtcd(): Promise<EtcdServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "flotilla-etcd-"));
  let lastError: unknown;
  for (let attempt = 0; attempt < portAttempts; attempt++) {
    const [clientPort, peerPort] = await freePorts(2);
    const args = etcdArgs(dataDir, clientPort as number, peerPort as number);
    try {
      let child = await spawnEtcd(args, `http://127.0.0.1:${clientPort}`);
      let stopped = false;
      return {
        endpoint: `http://127.0.0.1:${clientPort}`,
        async kill() {
          await terminate(child, "SIGKILL");
        },
        async restart() {
          await terminate(child, "SIGKILL");
          child = await spawnEtcd(args, `http://127.0.0.1:${clientPort}`);
        },
        async stop() {
          if (stopped) return;
          stopped = true;
          await terminate(child, "SIGTERM");
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
      // Another process may have taken a port between probing and etcd binding it.
      if (!(error instanceof EtcdStartError && error.portConflict)) break;
      await rm(dataDir, { recursive: true, force: true });
      await mkdir(dataDir, { recursive: true });
    }
  }
  await rm(dataDir, { recursive: true, force: true });
  throw lastError;
}

class EtcdStartError extends Error {
  constructor(
    message: string,
    readonly portConflict: boolean,
  ) {
    super(message);
  }
}

function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    "--name=flotilla-test",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=flotilla-test=${peer}`,
    "--initial-cluster-state=new",
    "--logger=zap",
    "--log-level=error",
  ];
}

async function spawnEtcd(args: readonly string[], endpoint: string): Promise<ChildProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ETCD")));
  const child = spawn("etcd", args, { env, stdio: ["ignore", "ignore", "pipe"] });
  // Best effort against orphans when a test process exits without afterAll (not on a crash).
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<Error>((resolve) => {
    child.once("error", (error: NodeJS.ErrnoException) => {
      resolve(
        error.code === "ENOENT"
          ? new Error("etcd is not installed (no `etcd` on PATH): install Debian package etcd-server")
          : error,
      );
    });
    child.once("exit", (code, signal) => {
      const conflict = /address already in use/i.test(stderr);
      resolve(
        new EtcdStartError(
          `etcd exited during start-up (code ${code}, signal ${signal}):\n${stderr.trim()}`,
          conflict,
        ),
      );
    });
  });
  const deadline = Date.now() + startDeadlineMs;
  while (Date.now() < deadline) {
    const outcome = await Promise.race([exited, healthy(endpoint)]);
    if (outcome instanceof Error) throw outcome;
    if (outcome) return child;
    const early = await Promise.race([exited, delay(50)]);
    if (early instanceof Error) throw early;
  }
  await terminate(child, "SIGKILL");
  throw new Error(
    `etcd did not become healthy at ${endpoint} within ${startDeadlineMs} ms:\n${stderr.trim()}`,
  );
}

function healthy(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get(`${endpoint}/health`, { agent: false, timeout: 1_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve(response.statusCode === 200 && body.includes('"true"')));
      response.on("error", () => resolve(false));
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(false));
  });
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  if (signal === "SIGKILL") return exited;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), stopGraceMs);
  });
  const late = await Promise.race([exited.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) {
    child.kill("SIGKILL");
    await exited;
  }
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port assigned");
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
