#!/usr/bin/env node
// The gateway as a process: `flotilla-gateway --config gateway.yaml` (see run-gateway.ts). Run
// from source (`src/gateway-main.ts`), Node strips the types but does not map this package's
// `.js` import specifiers to its `.ts` files; the hook below does, and does nothing when running
// the built `.js`. Workspace dependencies load from their built `dist/` (`tsc -b`).
import { registerHooks } from "node:module";

if (import.meta.url.endsWith(".ts")) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        const relative = specifier.startsWith("./") || specifier.startsWith("../");
        if (!relative || !specifier.endsWith(".js") || !context.parentURL?.endsWith(".ts")) throw error;
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
    },
  });
}

const { runGateway } = await import("./server/run-gateway.js");
await runGateway(process.argv.slice(2), process.env);
