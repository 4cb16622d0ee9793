import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Prints a benchmark's Markdown report and, on a full run, writes it with the JSON result to
 * `<dir>/RESULTS.md`; then prints the JSON result as the very last line, as BENCHMARKS.md asks.
 */
export function publishResults(
  dir: string,
  report: string,
  result: object,
  options: { quick: boolean },
): void {
  console.log(report);
  if (!options.quick) {
    writeFileSync(join(dir, "RESULTS.md"), `${report}\n\`\`\`json\n${JSON.stringify(result)}\n\`\`\`\n`);
  }
  console.log(JSON.stringify(result));
}
