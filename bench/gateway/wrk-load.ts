// wrk as the load generator, as bench/lib/wrk.ts runs it, plus what the gateway benchmark also
// needs: request headers (the bearer token) and the number of requests completed (for CPU per
// request).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { WrkResult } from "../lib/wrk.ts";

/** What one wrk run measured, with the count of requests it completed. */
export interface WrkLoadResult extends WrkResult {
  readonly requests: number;
}

/** Options of one wrk run: `wrk -t<threads> -c<connections> -d<seconds>s --latency [-H ...] url`. */
export interface WrkLoadOptions {
  readonly seconds: number;
  readonly connections: number;
  readonly threads?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Kills wrk when aborted (the benchmark interrupted). */
  readonly signal?: AbortSignal;
}

/** Runs wrk against a loopback URL for a bounded time and parses its `--latency` report. */
export async function runWrkLoad(url: string, options: WrkLoadOptions): Promise<WrkLoadResult> {
  const { hostname } = new URL(url);
  if (hostname !== "127.0.0.1" && hostname !== "localhost" && hostname !== "[::1]") {
    throw new Error(`load tests hit only loopback addresses, not ${hostname}`);
  }
  const headerArgs = Object.entries(options.headers ?? {}).flatMap(([name, value]) => [
    "-H",
    `${name}: ${value}`,
  ]);
  const { stdout: out } = await promisify(execFile)(
    "wrk",
    [
      `-t${options.threads ?? 1}`,
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--latency",
      ...headerArgs,
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
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: Number(requests[1]),
    p50Ms: latency(out, "50%"),
    p99Ms: latency(out, "99%"),
    errors:
      Number(non2xx?.[1] ?? 0) +
      (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  };
}

/** A percentile of wrk's latency distribution, in ms. */
function latency(report: string, percentile: string): number {
  const match = new RegExp(`\\s${percentile}\\s+([\\d.]+)(us|ms|s)`).exec(report);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}
