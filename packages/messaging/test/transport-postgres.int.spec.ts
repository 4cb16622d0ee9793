import pg from "pg";
import { afterAll } from "vitest";
import { postgresTransport } from "../src/transports/postgres/postgres-transport.js";
import { transportConformance } from "./fixtures/transport-conformance.js";

const admin = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres", max: 2 });
afterAll(() => admin.end());

transportConformance({
  name: "postgres",
  server: { host: "127.0.0.1", port: 5432 },
  create: ({ namespace, endpoint }) =>
    postgresTransport({
      url: `postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`,
      schema: namespace,
      pollInterval: 250,
      visibilityTimeout: 5_000,
      retryDelayOnThrow: 50,
    }),
  cleanup: async (namespace) => {
    await admin.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
  },
});
