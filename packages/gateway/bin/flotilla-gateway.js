#!/usr/bin/env node
// The `flotilla-gateway` bin: present from a fresh clone on (npm links bins at install time), it runs
// the build of src/gateway-main.ts, and says how to make that build when there is none yet.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/gateway-main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `flotilla-gateway: ${fileURLToPath(main)} is not built yet: run \`npm run build\` at the repository root first\n`,
  );
  process.exit(1);
}
await import(main.href);
