// Preloaded (`node --import`) by the tests that run workspace packages in child processes (relay,
// orchestrator, `flotilla up` and its services), so that a plain node process runs TypeScript
// sources: a relative `./x.js` import with no .js file next to it loads `./x.ts` instead, as
// TypeScript's NodeNext resolution promises. Node's type stripping (with
// --experimental-transform-types for parameter properties) does the rest.
import { existsSync } from "node:fs";
import { registerHooks } from "node:module";
import { fileURLToPath } from "node:url";

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (
      specifier.startsWith(".") &&
      specifier.endsWith(".js") &&
      parent?.startsWith("file:") &&
      !parent.includes("/node_modules/")
    ) {
      const js = new URL(specifier, parent);
      const ts = new URL(specifier.replace(/\.js$/, ".ts"), parent);
      if (!existsSync(fileURLToPath(js)) && existsSync(fileURLToPath(ts)))
        return nextResolve(ts.href, context);
    }
    return nextResolve(specifier, context);
  },
});
