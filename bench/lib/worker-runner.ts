import { execFileSync } from "node:child_process";

/**
 * Runs one benchmark worker in a fresh Node process (same binary, `--expose-gc`) and returns the
 * JSON object it prints as its last line. One process per sample keeps the JIT state of one
 * contender from leaking into another's.
 */
export function runWorker<T>(script: string, args: readonly string[], timeoutMs = 300_000): T {
  const out = execFileSync(process.execPath, ["--expose-gc", script, ...args], {
    encoding: "utf8",
    timeout: timeoutMs,
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 16 * 1024 * 1024,
  });
  const last = out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`worker ${script} ${args.join(" ")} printed no JSON result:\n${out}`);
  }
}

/**
 * Measures `op` for at least `minMs` (after `warmupMs` of warm-up), in batches, and returns ns per
 * call. `op(n)` must perform n calls.
 */
export async function timeLoop(
  op: (n: number) => Promise<void>,
  minMs: number,
  warmupMs: number,
): Promise<number> {
  const batch = 10_000;
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) await op(batch);
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < minMs) {
    await op(batch);
    calls += batch;
    now = performance.now();
  }
  return ((now - start) * 1e6) / calls;
}
