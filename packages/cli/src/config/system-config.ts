import { z } from "zod";

const port = z.number().int().min(0).max(65_535);
const nonEmpty = z.string().min(1);

const serviceSchema = z.strictObject({
  main: nonEmpty,
  instances: z.number().int().min(1).max(64).default(1),
  env: z.record(z.string(), z.string()).default({}),
});

/**
 * The zod schema of a system description (`flotilla.config.ts` or `.yaml`). Unknown keys are
 * refused; defaults are filled in by parsing. Paths stay as written (relative to the config file);
 * `loadSystemConfig` resolves them.
 */
export const systemConfigSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "letters, digits, '.', '_' or '-', at most 63"),
  stateDir: nonEmpty.default(".flotilla"),
  database: z
    .strictObject({
      url: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
      port: port.default(54_329),
    })
    .default({ port: 54_329 }),
  messaging: z
    .strictObject({
      transport: z.enum(["postgres", "rabbitmq", "nats"]).default("postgres"),
      url: nonEmpty.optional(),
    })
    .default({ transport: "postgres" }),
  registry: z.strictObject({ port: port.default(8500) }).default({ port: 8500 }),
  collector: z.strictObject({ port: port.default(4318) }).default({ port: 4318 }),
  gateway: z.strictObject({ port: port.default(8080), config: nonEmpty }).optional(),
  services: z
    .record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "lower-case letters, digits and '-'"), serviceSchema)
    .refine((services) => Object.keys(services).length > 0, "at least one service"),
});

/** A system description as written: what {@link defineSystem} accepts. */
export type SystemConfig = z.input<typeof systemConfigSchema>;

/** A system description after validation, with every default filled in. */
export type ParsedSystemConfig = z.output<typeof systemConfigSchema>;

/** One entry of {@link SystemConfig}'s `services`, as written. */
export type ServiceConfig = z.input<typeof serviceSchema>;

/**
 * Describes a system for the `flotilla` command: the default export of `flotilla.config.ts`. It
 * returns its argument unchanged (validation happens when the command loads it) and exists so the
 * editor checks the description against {@link SystemConfig}.
 *
 * - `name`: the system's name.
 * - `stateDir` (default `.flotilla`, relative to the config file): `state.json`, logs, the embedded
 *   PostgreSQL's data and the registry's store.
 * - `database.url`: an admin URL of a PostgreSQL to use; absent, an embedded PostgreSQL is started
 *   on `database.port` (default 54329).
 * - `messaging.transport` (default `postgres`: database `flotilla_bus` on the system database),
 *   `messaging.url` for RabbitMQ or NATS.
 * - `registry.port` (8500), `collector.port` (4318), `gateway.port` (8080) with `gateway.config`,
 *   a `@flotilla/gateway` configuration file. Port 0 takes any free port.
 * - `services.<name>`: `main` (path of the service's main module), `instances` (1), `env` ({}).
 *
 * @example
 * ```ts
 * import { defineSystem } from "flotilla";
 *
 * export default defineSystem({
 *   name: "shop",
 *   gateway: { config: "./gateway.yaml" },
 *   services: {
 *     orders: { main: "./services/orders/main.ts", instances: 2 },
 *     users: { main: "./services/users/main.ts" },
 *   },
 * });
 * ```
 */
export function defineSystem(config: SystemConfig): SystemConfig {
  return config;
}
