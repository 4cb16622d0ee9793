// A proxy under test as a child process: started, found ready by a request through it, stopped
// with everything it started (nginx's worker included).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { killSurvivors, processTreeCpu } from "./process-cpu.ts";

/** How to start one proxy. */
export interface ProxyLaunch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** A running proxy. */
export interface ProxyProcess {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 10 s; then SIGKILL to any process it left behind. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel's pick, released at once for the proxy to take). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

/** One GET over a fresh connection: status and body. */
export function httpGet(
  url: string,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Starts the proxy and waits until `probeUrl` answers 200 with `expectedBody` through it (every
 * 50 ms, for at most `timeoutMs`). Its stdout is discarded, its stderr passed on with `label`.
 */
export async function startProxy(
  label: string,
  launch: ProxyLaunch,
  probe: { url: string; headers?: Readonly<Record<string, string>>; expectedBody: string },
  timeoutMs = 30_000,
): Promise<ProxyProcess> {
  const child = spawn(launch.command, [...launch.args], {
    env: launch.env ?? process.env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  createInterface({ input: child.stderr! }).on("line", (line) => process.stderr.write(`${label}: ${line}\n`));
  const exited = once(child, "exit");
  exited.catch(() => {}); // a failed spawn emits "error" instead, handled below
  const proxy: ProxyProcess = {
    pid: child.pid ?? -1,
    stop: () => stopChild(child, exited),
  };
  if (child.pid === undefined) {
    const [error] = (await once(child, "error")) as [Error];
    throw new Error(`${label}: could not start ${launch.command}: ${error.message}`);
  }
  const deadline = performance.now() + timeoutMs;
  let last = "no answer";
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${label} exited with ${child.exitCode ?? child.signalCode} before it was ready`);
      }
      try {
        const { status, body } = await httpGet(probe.url, probe.headers);
        if (status === 200 && body === probe.expectedBody) return proxy;
        last = `status ${status}, body ${JSON.stringify(body.slice(0, 200))}`;
        if (status === 200) throw new Error(`${label} answered another body than the upstream's: ${last}`);
      } catch (error) {
        if ((error as Error).message.startsWith(label)) throw error;
        last = (error as Error).message;
      }
      if (performance.now() > deadline) throw new Error(`${label} not ready within ${timeoutMs} ms: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await proxy.stop();
    throw error;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.pid === undefined) return;
  let tree: ReturnType<typeof processTreeCpu> | undefined;
  try {
    tree = processTreeCpu(child.pid);
  } catch {
    // already gone
  }
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (tree !== undefined) {
    const killed = killSurvivors(tree);
    if (killed > 0) process.stderr.write(`killed ${killed} process(es) left behind by ${child.pid}\n`);
  }
}
