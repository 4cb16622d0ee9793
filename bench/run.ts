// Dispatcher for `npm run bench -- <name> [--quick]`: runs bench/<name>/main.ts on the pinned Node.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, "main.ts")))
  .map((d) => d.name);

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [--quick]\nbenchmarks: ${available.join(", ") || "(none)"}`);
  process.exit(name === undefined ? 0 : 2);
}
const result = spawnSync(process.execPath, [join(here, name, "main.ts"), ...rest], { stdio: "inherit" });
process.exit(result.status ?? 1);
