import { cpus } from "node:os";

/** The facts BENCHMARKS.md asks every RESULTS.md to state. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  return `${cpus().length} cores (nproc), ${cpu}, Node.js ${process.version}, ${process.platform}/${process.arch}`;
}
