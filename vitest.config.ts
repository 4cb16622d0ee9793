import { defineConfig } from "vitest/config";

const conditions = ["@flotilla/source", "node", "import", "module", "default"];
// Node resolves `require()` with every condition Vitest passes on, so only the source
// condition may go there: "import"/"module" make `require("pg-pool")` load its ESM build.
const nodeConditions = ["@flotilla/source", "node"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: nodeConditions, externalConditions: nodeConditions } },
  test: {
    include: ["packages/*/test/**/*.spec.ts", "examples/*/test/**/*.spec.ts"],
    environment: "node",
    pool: "forks",
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
