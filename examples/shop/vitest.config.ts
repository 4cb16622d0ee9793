import { defineConfig } from "vitest/config";

// The shop's own tests (the root config includes packages/*/test only). Run from the repository
// root: npx vitest run --config examples/shop/vitest.config.ts
const conditions = ["@flotilla/source", "node", "import", "module", "default"];
const nodeConditions = ["@flotilla/source", "node"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: nodeConditions, externalConditions: nodeConditions } },
  test: {
    root: import.meta.dirname,
    include: ["test/**/*.spec.ts"],
    environment: "node",
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
