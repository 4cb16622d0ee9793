import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

/** A long-lived helper process (a server) and the JSON line it announced itself with. */
export interface AnnouncedChild<T> {
  readonly child: ChildProcess;
  readonly announcement: T;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node <script> ...args` (the pinned binary) and waits for its first stderr line that is a
 * JSON object: its announcement (a port, a URL). Other stderr lines are passed on with `label`;
 * stdout is discarded (servers log there).
 */
export async function spawnAnnounced<T>(
  label: string,
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): Promise<AnnouncedChild<T>> {
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  const announcement = await new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(
      () => fail(new Error(`${label}: no announcement within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (error: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    child.once("exit", (code) => fail(new Error(`${label} exited with ${code} before announcing itself`)));
    createInterface({ input: child.stderr! }).on("line", (line) => {
      if (!done && line.startsWith("{")) {
        try {
          const parsed = JSON.parse(line) as T;
          done = true;
          clearTimeout(timer);
          resolve(parsed);
          return;
        } catch {
          // not the announcement
        }
      }
      process.stderr.write(`${label}: ${line}\n`);
    });
  });
  return {
    child,
    announcement,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Runs `node [...nodeArgs] <script> ...args` to completion without blocking this process's event
 * loop (servers living here keep serving) and returns the JSON object it printed as its last
 * stdout line. Its stderr is passed through.
 */
export async function runWorkerAsync<T>(
  script: string,
  args: readonly string[],
  options: { nodeArgs?: readonly string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<T> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const chunks: Buffer[] = [];
  child.stdout!.on("data", (chunk: Buffer) => chunks.push(chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const out = Buffer.concat(chunks).toString("utf8");
  if (code !== 0) {
    throw new Error(`worker ${script} ${args.join(" ")} exited with ${code ?? signal}:\n${out}`);
  }
  const last = out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`worker ${script} ${args.join(" ")} printed no JSON result:\n${out}`);
  }
}
