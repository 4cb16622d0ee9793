import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";

/** What one wrk run measured. */
export interface WrkResult {
  readonly requestsPerSecond: number;
  /** Requests completed in the run (for CPU per request). */
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/** Options of one wrk run: `wrk -t<threads> -c<connections> -d<seconds>s --latency [-s script] [-H …] url`. */
export interface WrkOptions {
  readonly seconds: number;
  readonly connections: number;
  readonly threads?: number;
  /** A Lua script (bench/lib/*.lua). */
  readonly script?: string;
  /** Request headers (a bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Kills wrk when aborted (the benchmark interrupted). */
  readonly signal?: AbortSignal;
}

/**
 * Makes sure Debian's `wrk` is installed: installs it with apt-get when running as root, otherwise
 * says how. Benchmarks use it as the load generator because it costs far less CPU than a Node one.
 */
export function ensureWrk(): void {
  if (spawnSync("wrk", ["--version"]).error === undefined) return;
  if (process.getuid?.() !== 0) {
    throw new Error("this benchmark needs wrk: sudo apt-get install -y wrk");
  }
  process.stderr.write("installing wrk from Debian's packages (apt-get install -y wrk)\n");
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  execFileSync("apt-get", ["install", "-y", "-qq", "wrk"], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

/**
 * Runs wrk against a loopback URL for a bounded time and parses its `--latency` report. Asynchronous,
 * so servers living in the calling process (an embedded collector) keep serving meanwhile.
 */
export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const { hostname } = new URL(url);
  if (hostname !== "127.0.0.1" && hostname !== "localhost" && hostname !== "[::1]") {
    throw new Error(`load tests hit only loopback addresses, not ${hostname}`);
  }
  const { stdout: out } = await promisify(execFile)(
    "wrk",
    [
      `-t${options.threads ?? 1}`,
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--latency",
      ...(options.script === undefined ? [] : ["-s", options.script]),
      ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
      url,
    ],
    {
      encoding: "utf8",
      timeout: (options.seconds + 30) * 1000,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    },
  );
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const requests = /(\d+) requests in /.exec(out);
  if (rps === null || requests === null) throw new Error(`could not read wrk's report:\n${out}`);
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: Number(requests[1]),
    p50Ms: latency(out, "50%"),
    p99Ms: latency(out, "99%"),
    errors:
      Number(errors?.[1] ?? 0) +
      (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  };
}

function latency(report: string, percentile: string): number {
  const match = new RegExp(`\\s${percentile.replace("%", "%")}\\s+([\\d.]+)(us|ms|s)`).exec(report);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}
