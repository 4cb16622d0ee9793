// One sample of one contender in a fresh process: `node worker.ts <scenario> <contender> <minMs> <warmupMs>`
// prints {"nsPerOp": …}; `node worker.ts heap <contender> <calls>` prints {"heapGrowthMb": …}.

import { timeLoop } from "../lib/worker-runner.ts";
import { type Contender, makeRunner, type Scenario, waveSize } from "./contenders.ts";

const [scenario, contender, a, b] = process.argv.slice(2) as [Scenario | "heap", Contender, string, string];
const op = async (): Promise<number> => 1;
let sink = 0;

if (scenario === "heap") {
  const calls = Number(a);
  const run = makeRunner("breaker", contender, op);
  const gc = (globalThis as { gc?: () => void }).gc!;
  for (let i = 0; i < 10_000; i++) sink += await run(op);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) sink += await run(op);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  console.log(JSON.stringify({ heapGrowthMb: (after - before) / (1024 * 1024), sink }));
} else {
  const run = makeRunner(scenario, contender, op);
  const minMs = Number(a);
  const warmupMs = Number(b);
  const sequential = async (n: number) => {
    for (let i = 0; i < n; i++) sink += await run(op);
  };
  const size = waveSize[scenario];
  const concurrent = async (n: number) => {
    const wave: Promise<number>[] = new Array(size);
    for (let done = 0; done < n; done += size!) {
      for (let j = 0; j < size!; j++) wave[j] = run(op);
      for (const v of await Promise.all(wave)) sink += v;
    }
  };
  const nsPerOp = await timeLoop(size === undefined ? sequential : concurrent, minMs, warmupMs);
  console.log(JSON.stringify({ nsPerOp, sink }));
}
