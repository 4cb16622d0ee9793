import {
  type Consumer,
  natsTransport,
  type Outbox,
  outboxRelay,
  postgresTransport,
  rabbitmqTransport,
  type Transport,
} from "@flotilla/messaging";
import type { Logger } from "@flotilla/observability";
import { type DatabaseConnector, database, provisionDatabase } from "@flotilla/service";
import type pg from "pg";
import { z } from "zod";
import { envSettings } from "./env-settings.ts";

/** Which broker the shop's events travel through, and where it is. */
export interface MessagingSettings {
  readonly transport: "postgres" | "rabbitmq" | "nats";
  /** Broker URL; for `postgres` the bus database (default: the admin database). */
  readonly url: string | undefined;
  /**
   * What this system's names on the broker start with: the RabbitMQ exchange, the NATS stream
   * (upper case) and subject prefix, and every consumer's queue (`<namespace>.<consumer>`), so that
   * two systems (or two test runs) on one broker share nothing. Default `shop`.
   */
  readonly namespace: string;
}

const defaultAdminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const namespacePattern = /^[A-Za-z][A-Za-z0-9_-]{0,47}$/;

/**
 * Reads `FLOTILLA_MESSAGING_TRANSPORT` (`postgres`, the default; `rabbitmq`; `nats`),
 * `FLOTILLA_MESSAGING_URL` and `FLOTILLA_MESSAGING_NAMESPACE` (default `shop`). Without a URL,
 * `postgres` uses `FLOTILLA_DATABASE_ADMIN_URL` (schema `flotilla_bus`), the others their local
 * defaults. Throws `FLT_CONFIG_INVALID` naming the variable.
 */
export function messagingSettings(
  env: Readonly<Record<string, string | undefined>> = process.env,
): MessagingSettings {
  const parsed = envSettings(
    z.object({
      FLOTILLA_MESSAGING_TRANSPORT: z.enum(["postgres", "rabbitmq", "nats"]).default("postgres"),
      FLOTILLA_MESSAGING_URL: z.string().min(1).optional(),
      FLOTILLA_MESSAGING_NAMESPACE: z
        .string()
        .regex(namespacePattern, "letters, digits, '_' or '-', starting with a letter, at most 48")
        .default("shop"),
      FLOTILLA_DATABASE_ADMIN_URL: z.string().min(1).optional(),
    }),
    env,
  );
  const url =
    parsed.FLOTILLA_MESSAGING_URL ??
    (parsed.FLOTILLA_MESSAGING_TRANSPORT === "postgres"
      ? (parsed.FLOTILLA_DATABASE_ADMIN_URL ?? defaultAdminUrl)
      : undefined);
  return {
    transport: parsed.FLOTILLA_MESSAGING_TRANSPORT,
    url,
    namespace: parsed.FLOTILLA_MESSAGING_NAMESPACE,
  };
}

/**
 * Connects the transport the settings name: on RabbitMQ the exchange is the namespace, on NATS the
 * stream is the namespace in upper case and the subject prefix the namespace.
 */
export async function connectTransport(settings: MessagingSettings, logger?: Logger): Promise<Transport> {
  const log = logger === undefined ? {} : { logger };
  switch (settings.transport) {
    case "postgres":
      return postgresTransport({ url: settings.url ?? defaultAdminUrl, ...log });
    case "rabbitmq":
      return rabbitmqTransport({
        ...(settings.url === undefined ? {} : { url: settings.url }),
        exchange: settings.namespace,
        connectionName: settings.namespace,
        ...log,
      });
    case "nats":
      return natsTransport({
        servers: settings.url ?? "127.0.0.1:4222",
        stream: settings.namespace.toUpperCase(),
        subjectPrefix: settings.namespace,
        ...log,
      });
  }
}

/** A consumer's queue name in `namespace`: `<namespace>.<consumer>`. */
export function queueName(namespace: string, consumer: string): string {
  return `${namespace}.${consumer}`;
}

/** What a service runs beside its database once connected: given the pool and the transport. */
export interface MessagingContext {
  readonly pool: pg.Pool;
  readonly transport: Transport;
  readonly logger: Logger;
  /** The queue (consumer group) name of a consumer: `<namespace>.<consumer>`. */
  queue(consumer: string): string;
}

/** Options of {@link messagingConnector}. */
export interface MessagingConnectorOptions {
  /** Where the transport comes from: usually `() => connectTransport(messagingSettings())`. */
  readonly transport: (logger: Logger) => Promise<Transport>;
  /** {@link MessagingSettings.namespace}: prefixes the consumers' queue names. */
  readonly namespace: string;
  /** The service's outbox: installed, and relayed by an `outboxRelay` while the service runs. */
  readonly outbox?: Outbox;
  /** Consumers started after the relay and closed before it. */
  readonly consumers?: (context: MessagingContext) => readonly Consumer[];
  /** Anything else to start last (an orchestrator); resolves with its stop function. */
  readonly start?: (context: MessagingContext) => Promise<() => Promise<void>>;
  /** Connections added to `database.poolSize` for the relay, consumers and the rest. Default 4. */
  readonly extraConnections?: number;
}

/**
 * A `DatabaseConnector` for `startService`/`runService`: the default one (provision unless
 * `database.url` is given, pool, migrate) plus the transport, the outbox relay, the consumers and
 * `start`, stopped in reverse order before the pool closes.
 *
 * @example
 * await runService(inventoryService, {
 *   connectDatabase: messagingConnector({ transport: (log) => connectTransport(settings, log), namespace: settings.namespace, outbox: inventoryOutbox }),
 * });
 */
export function messagingConnector(options: MessagingConnectorOptions): DatabaseConnector {
  return async ({ service, config, migrations, logger }) => {
    const url =
      config.url ??
      (
        await provisionDatabase({
          service: service.name,
          ...(config.adminUrl === undefined ? {} : { adminUrl: config.adminUrl }),
          logger,
        })
      ).url;
    const db = database({
      url,
      max: config.poolSize + (options.extraConnections ?? 4),
      logger,
      ...(config.statementTimeout === undefined ? {} : { statementTimeout: config.statementTimeout }),
    });
    const stops: Array<() => Promise<void>> = [() => db.close()];
    const close = async (): Promise<void> => {
      for (const stop of stops.splice(0).reverse()) {
        await stop().catch((error: unknown) => logger.error({ err: error }, "stopping messaging failed"));
      }
    };
    try {
      if (migrations !== undefined) await db.migrate({ directory: migrations, logger });
      const transport = await options.transport(logger);
      stops.push(() => transport.close());
      const context: MessagingContext = {
        pool: db.pool,
        transport,
        logger,
        queue: (consumer) => queueName(options.namespace, consumer),
      };
      if (options.outbox !== undefined) {
        await options.outbox.install(db.pool);
        const relay = outboxRelay({ pool: db.pool, outbox: options.outbox, transport, logger });
        relay.start();
        stops.push(() => relay.stop());
      }
      for (const consumer of options.consumers?.(context) ?? []) {
        await consumer.start();
        stops.push(() => consumer.close());
      }
      if (options.start !== undefined) stops.push(await options.start(context));
    } catch (error) {
      await close();
      throw error;
    }
    return { db, check: db.health(), close };
  };
}
